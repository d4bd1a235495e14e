"""The import graph of the product code (rag/, server/, knowledge/, ui/, settings.py), read
from the source with ast: no circles, rag/ never imports knowledge/ or streamlit, the KB never
imports ingestion. Lazy imports inside functions count as arrows too."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "server", "knowledge", "ui")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    files = [ROOT / "settings.py", *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))]
    return {module_name(p): p for p in files if p.name != "__main__.py"}  # a __main__ is an entry point


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Product modules `path` imports (a `from a.b import c` of a module c counts as a.b.c)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            while name and name not in known:  # rag.defaults.open_kb -> rag.defaults
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = product_modules()
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    edges = {m: imports_of(p, set(modules)) - {m} for m, p in modules.items()}
    return {m: {d for d in ds if d not in packages} for m, ds in edges.items()}  # package inits hold no code


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for d in sorted(edges.get(m, ())):
            if state.get(d) == "open":
                found.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    return found


def test_the_product_import_graph_has_no_circles():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_circle():  # the check above can fail
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_rag_never_imports_knowledge_nor_streamlit_and_the_kb_never_imports_ingestion():
    edges = graph()
    up = {(m, d) for m, ds in edges.items() if m.startswith("rag") for d in ds if d.startswith("knowledge")}
    assert up == set()
    assert "rag.ingest" not in edges["rag.kb"]
    for m, path in product_modules().items():
        if m.startswith(("rag", "server", "knowledge")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not {i for i in imported if i.split(".")[0] == "streamlit"}, m


def test_no_python_file_over_400_lines_without_a_reason_at_its_top():
    files = [p for pkg in (*PACKAGES, "bench", "tests", "pages") for p in (ROOT / pkg).rglob("*.py")]
    long = [p for p in [*files, ROOT / "app.py", ROOT / "settings.py"]
            if len(p.read_text(encoding="utf-8").splitlines()) > 400]
    assert long  # the check sees the long files (rag/store/pg.py is one)
    assert [str(p.relative_to(ROOT)) for p in long
            if not p.read_text(encoding="utf-8").startswith("# Over 400 lines: ")] == []


FOLDERS = {"rag.kb": "rag.kb", "rag.ingest": "rag.kb"}  # the KB's two files are one part


def folder_of(module: str) -> str:
    """The part a module belongs to: rag/answer/x.py → rag.answer; rag/kb.py, rag/ingest.py → rag.kb."""
    parts = module.split(".")
    return FOLDERS.get(module) or (".".join(parts[:2]) if parts[0] == "rag" and len(parts) > 2 else module)


def folder_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for m, ds in edges.items():
        folders.setdefault(folder_of(m), set()).update(folder_of(d) for d in ds if folder_of(d) != folder_of(m))
    return folders


# None left (issue 31 item 2): the KB stores rag.text's tokens and names its own vectors'
# model (embedder_id); retrieval builds and caches BM25 from a KB snapshot (lexical.bm25_of).
KNOWN_LOOPS: set[tuple[str, str]] = set()


def test_answer_and_retrieval_never_import_each_other_and_rag_folders_run_one_way():
    folders = folder_graph(graph())
    assert "rag.retrieval" not in folders["rag.answer"] and "rag.answer" not in folders["rag.retrieval"]
    allowed = {m: {d for d in ds if (m, d) not in KNOWN_LOOPS} for m, ds in folders.items()}
    assert cycles({m: ds for m, ds in allowed.items() if m.startswith("rag")}) == []


def test_the_folder_check_sees_a_loop_between_two_files_of_different_folders():  # it can fail
    edges = {"rag.answer.verify": {"rag.retrieval.hybrid"}, "rag.retrieval.hybrid": {"rag.answer.budget"},
             "rag.answer.budget": set()}
    assert cycles(edges) == []  # no file circle ...
    assert cycles(folder_graph(edges)) == [["rag.answer", "rag.retrieval", "rag.answer"]]  # ... but a folder loop


MAX_SETTINGS_READERS = 6  # issue 31: settings are read at the edges, the core receives values


def settings_readers() -> list[str]:
    """Product files (not tests/ or bench/) that call get_settings(), lazy calls included."""
    files = [*product_modules().values(), *(ROOT / "rag").rglob("__main__.py"), *(ROOT / "server").rglob("__main__.py"),
             ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    return sorted({str(p.relative_to(ROOT)) for p in files if calls_get_settings(p)})


def calls_get_settings(path: Path) -> bool:
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "get_settings"
               for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


def test_settings_are_read_in_few_places():
    readers = settings_readers()
    assert "rag/defaults.py" in readers  # the check sees them
    assert len(readers) <= MAX_SETTINGS_READERS, f"{len(readers)} files call get_settings(): {readers}"
    core = [r for r in readers if r.startswith(("rag/", "knowledge/")) and r not in ("rag/defaults.py", "rag/__main__.py")]
    assert core == [], f"the core receives settings as arguments: {core}"
    assert not [r for r in readers if r.startswith("pages/") or r == "app.py"], readers  # they ask ui/compare.py
