"""CLI: python -m rag kbs | docs | ingest PATH|DIR... | remove DOC | search "问题" | ask "问题" | eval ... | demo-pack DIR

The same functions the app calls; library errors become their message and exit code 1.
Settings are read here, once (`main`), and handed to every command as `run(args, settings)`:
the commands of rag/ask_cli.py, rag/eval/cli.py and knowledge/demo_pack.py receive them too.
`ingest` takes files and folders (searched recursively for .pdf/.docx/.txt/.md), shows a
progress bar on stderr and ends with a summary: added / unchanged / failed, with the reason
for each failed file (exit code 1 when any failed, 130 when interrupted: the file being
added when Ctrl-C came is not in the KB).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.errors import RagError
from settings import Settings, get_settings


_LIBRARY = []


def _library(settings: Settings):
    """One library per command (its tokenizer and embedder are loaded once, on first use)."""
    from rag.defaults import library_from

    if not _LIBRARY:
        _LIBRARY.append(library_from(settings))
    return _LIBRARY[0]


def _kb(args, settings: Settings, create: bool = False):
    from rag.defaults import open_kb

    library = _library(settings)
    if create and not library.exists(args.kb) and args.kb != settings.default_kb:
        return library.open_or_create(args.kb)
    return open_kb(library, args.kb, settings.default_kb,  # also says so when it re-embeds
                   progress=lambda f, msg: print(f"  {f:4.0%} {msg}", file=sys.stderr, flush=True))


def cmd_kbs(args, settings: Settings) -> int:
    library = _library(settings)  # listing loads no embedder and re-embeds nothing
    overview = library.overview()
    for name, s, why in overview:
        if s is None:
            print(f"跳过 {name!r}：无法打开（{why}）。请检查或删除 {library.location} 下的这个文件夹。"
                  f" / skipped {name!r}: cannot be opened", file=sys.stderr)
            continue
        print(f"{name}\t{s['documents']} documents\t{s['articles']} articles\t{s['size_mb']} MB")
    if not overview:
        print(f"no knowledge bases yet in {library.location}")
    return 0


def cmd_docs(args, settings: Settings) -> int:
    kb = _library(settings).open_stored(args.kb)
    partial = kb.partial()
    for d in kb.documents():
        mark = f"\t不完整 / partial: {partial[d.doc_id]}" if d.doc_id in partial else ""
        print(f"{d.doc_id}\t{d.file_name}\t{d.n_articles} articles\t{d.added_at}\t{d.source}{mark}")
    return 0


def _collect(paths: list[str]) -> tuple[list[Path], int]:
    """Files to ingest (folders searched recursively, supported suffixes only, sorted) and
    the number of other files found in those folders. Other paths are passed on as given,
    so that reading them gives their own error (missing, FIFO, unsupported type …)."""
    from rag.documents.load import SUPPORTED_SUFFIXES

    files: list[Path] = []
    ignored = 0
    for given in map(Path, paths):
        try:
            folder = given.is_dir()
        except OSError:  # a name too long, a loop …: reading it says which
            folder = False
        if folder:
            found = sorted(p for p in given.rglob("*") if _is_plain_file(p))
            files += [p for p in found if p.suffix.lower() in SUPPORTED_SUFFIXES]
            ignored += sum(p.suffix.lower() not in SUPPORTED_SUFFIXES for p in found)
        else:
            files.append(given)
    return files, ignored


def _is_plain_file(path: Path) -> bool:
    try:
        return path.is_file() and not path.is_symlink()
    except OSError:
        return False


class _ProgressBar:
    """One line on stderr, redrawn in place on a terminal; a line per tenth otherwise."""

    WIDTH = 24

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last: tuple[int, int] | None = None

    def show(self, index: int, name: str, fraction: float, message: str = "") -> None:
        filled = int(self.WIDTH * (index + fraction) / max(1, self.total))
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {index + 1}/{self.total} "
                f"{fraction:4.0%} {name}" + (f": {message}" if message else ""))
        if self.tty:
            self.stream.write("\r" + line[:160] + "\x1b[K")
            self.stream.flush()
        elif self.last != (index, int(fraction * 10)):
            print(line, file=self.stream, flush=True)
        self.last = (index, int(fraction * 10))

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def cmd_ingest(args, settings: Settings) -> int:
    from rag.ingest import ingest_file
    from rag.documents.load import DocumentLimits, read_path
    from rag.retrieval.lexical import bm25_of

    limits = DocumentLimits.from_settings(settings)
    files, ignored = _collect(args.paths)
    if not files:  # only folders, none holding a file to add: say so before creating any KB
        print(f"error: {'、'.join(args.paths)} 中没有可导入的 .pdf/.docx/.txt/.md 文件"
              f"{f'（另有 {ignored} 个其他格式的文件）' if ignored else ''}，知识库「{args.kb}」未改动。"
              "请检查文件夹路径，或把文件另存为这些格式。 / no .pdf/.docx/.txt/.md file found"
              f"{f' ({ignored} other files)' if ignored else ''}: check the folder", file=sys.stderr)
        return 1
    created = not _library(settings).exists(args.kb)
    kb = _kb(args, settings, create=True)
    added, unchanged, failed = [], [], []
    bar = _ProgressBar(len(files))
    try:
        with kb.bulk():  # the snapshot and BM25 index are rebuilt once, at the end
            for index, path in enumerate(files):
                bar.show(index, path.name, 0.0, "读取 / reading")
                try:
                    result = ingest_file(kb, read_path(path, limits.max_bytes), path.name, limits, source="cli",
                                         progress=lambda f, msg, i=index, n=path.name: bar.show(i, n, f, msg),
                                         on_wait=lambda msg: print(f"\n{msg}", file=sys.stderr, flush=True),
                                         keep_partial=args.keep_partial)
                except RagError as e:
                    failed.append((path, str(e)))
                    continue
                (unchanged if result.skipped else added).append((path, result))
    except KeyboardInterrupt:
        bar.done()
        print(f"interrupted: {files[len(added) + len(unchanged) + len(failed)]} was not added", file=sys.stderr)
        _summary(added, unchanged, failed, ignored)
        return 130
    bar.done()
    if created and not kb.documents():  # nothing went in: leave no empty KB behind
        kb.library.delete(args.kb)
        print(f"knowledge base {args.kb} was not created: no file could be added", file=sys.stderr)
    else:
        if args.optimize:
            kb.optimize()
        if added:  # the BM25 index (and its disk cache) now, so the first search does not wait for it
            bm25_of(kb.snapshot())
    _summary(added, unchanged, failed, ignored)
    return 1 if failed else 0


def _summary(added, unchanged, failed, ignored: int) -> None:
    for path, result in added:
        ocr = f", OCR pages {','.join(map(str, result.ocr_pages))}" if result.ocr_pages else ""
        print(f"✓ {path}: {result.n_articles} articles added (doc {result.doc_id}{ocr})")
        if result.missing:
            print(f"  ⚠ 不完整，已标记 / added as partial: {result.missing}")
        if result.directives:
            shown = "、".join(result.directives[:5]) + ("…" if len(result.directives) > 5 else "")
            print(f"  ⚠ {shown} 含指令性文字（对读者或模型下指令，不像法条），检索和回答时按普通文本处理"
                  f" / addresses the reader or the model: treated as plain text")
    for path, result in unchanged:
        print(f"= {path}: unchanged, already in the KB (doc {result.doc_id})")
    for path, reason in failed:
        print(f"✗ {path}: {reason}", file=sys.stderr)
    print(f"{len(added)} added, {len(unchanged)} unchanged, {len(failed)} failed"
          + (f"; {ignored} other files ignored (not .pdf/.docx/.txt/.md)" if ignored else ""))


def cmd_remove(args, settings: Settings) -> int:
    doc = _kb(args, settings).remove_document(args.doc)
    print(f"removed {doc.file_name} ({doc.n_articles} articles) from {args.kb}")
    return 0


def cmd_search(args, settings: Settings) -> int:
    from rag.defaults import retriever_from

    kb = _kb(args, settings)
    result = retriever_from(settings, kb).retrieve(args.question, k=args.k, mode=args.mode)
    if result.abstain:
        print("(no article looks relevant: the assistant would abstain)")
    for n, c in enumerate(result.citations, start=1):
        a = c.article
        snippet = a.text.replace("\n", " ")[:60]
        print(f"{n:2}. {c.label}\t{c.score:.4f}\t[{'+'.join(c.retrievers)}]\t{a.chapter}\t{snippet}…")
    print(f"({result.timings_ms.get('total', 0):.0f} ms)", file=sys.stderr)
    return 0


_ARGV: list[str] = []  # the arguments being parsed (for the hint below)


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except OSError:
        return False


class _Parser(argparse.ArgumentParser):
    """argparse, plus a hint when the error comes from a file name that starts with '-'."""

    def error(self, message: str):
        dashed = [a for a in _ARGV if a.startswith("-") and a != "-" and _exists(a)]
        if dashed:
            message += (f"\n「{dashed[0]}」是以 - 开头的文件名，会被当作选项。请写成 ./{dashed[0]}，或放在 -- 之后"
                        f"（python -m rag ingest --kb 知识库 -- {dashed[0]}）。 / a file name starting with '-' reads as an"
                        f" option: write ./{dashed[0]} or put it after --")
        super().error(message)


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = _Parser(prog="python -m rag")
    sub = parser.add_subparsers(dest="command", required=True)
    kb_arg = {"default": settings.default_kb, "help": f"knowledge base (default {settings.default_kb})"}

    p = sub.add_parser("kbs", help="list knowledge bases")
    p.set_defaults(run=cmd_kbs)
    p = sub.add_parser("docs", help="list the documents of a knowledge base")
    p.add_argument("--kb", **kb_arg)
    p.set_defaults(run=cmd_docs)
    p = sub.add_parser("ingest", help="add PDF/DOCX/TXT/MD files or folders (recursive) to a knowledge base")
    p.add_argument("paths", nargs="+")
    p.add_argument("--kb", **kb_arg)
    p.add_argument("--optimize", action="store_true", help="compact and build the ANN index afterwards")
    p.add_argument("--keep-partial", action="store_true",
                   help="add the readable part of a file that lost text (damaged PDF pages, article numbers that"
                        " jump), marked as partial in the KB; by default such a file is refused")
    p.set_defaults(run=cmd_ingest)
    p = sub.add_parser("remove", help="remove a document (id or file name)")
    p.add_argument("doc")
    p.add_argument("--kb", **kb_arg)
    p.set_defaults(run=cmd_remove)
    p = sub.add_parser("search", help="retrieve articles (no LLM)")
    p.add_argument("question")
    p.add_argument("--kb", **kb_arg)
    p.add_argument("-k", type=int, default=settings.top_k)
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    p.set_defaults(run=cmd_search)
    for module in ("rag.ask_cli", "rag.eval.cli", "knowledge.demo_pack"):
        try:
            __import__(module, fromlist=["add_cli"]).add_cli(sub)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    _ARGV[:] = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        return args.run(args, settings) or 0
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
