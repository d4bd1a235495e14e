"""CLI: python -m rag kbs | docs | ingest PATH|DIR... | remove DOC | search "问题" | ask "问题" | eval ... | demo-pack DIR

The same functions the app calls; library errors become their message and exit code 1.
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
from settings import get_settings


_LIBRARY = []


def _library(args):
    """One library per command (its tokenizer and embedder are loaded once, on first use)."""
    from rag.defaults import library_from

    if not _LIBRARY:
        _LIBRARY.append(library_from(get_settings()))
    return _LIBRARY[0]


def _kb(args, create: bool = False):
    from rag.defaults import open_kb

    settings = get_settings()
    library = _library(args)
    if create and not library.exists(args.kb) and args.kb != settings.default_kb:
        return library.open_or_create(args.kb)
    return open_kb(library, args.kb, settings.default_kb,  # also says so when it re-embeds
                   progress=lambda f, msg: print(f"  {f:4.0%} {msg}", file=sys.stderr, flush=True))


def cmd_kbs(args) -> int:
    library = _library(args)  # listing loads no embedder and re-embeds nothing
    for name in library.names():
        s = library.open_stored(name).stats()
        print(f"{name}\t{s['documents']} documents\t{s['articles']} articles\t{s['size_mb']} MB")
    if not library.names():
        print(f"no knowledge bases yet in {library.location}")
    return 0


def cmd_docs(args) -> int:
    for d in _library(args).open_stored(args.kb).documents():
        print(f"{d.doc_id}\t{d.file_name}\t{d.n_articles} articles\t{d.added_at}\t{d.source}")
    return 0


def _collect(paths: list[str]) -> tuple[list[Path], int]:
    """Files to ingest (folders searched recursively, supported suffixes only, sorted) and
    the number of other files found in those folders. Other paths are passed on as given,
    so that reading them gives their own error (missing, FIFO, unsupported type …)."""
    from rag.documents.load import SUPPORTED_SUFFIXES

    files: list[Path] = []
    ignored = 0
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.rglob("*") if p.is_file() and not p.is_symlink())
            files += [p for p in found if p.suffix.lower() in SUPPORTED_SUFFIXES]
            ignored += sum(p.suffix.lower() not in SUPPORTED_SUFFIXES for p in found)
        else:
            files.append(given)
    return files, ignored


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


def cmd_ingest(args) -> int:
    from rag.ingest import ingest_file
    from rag.documents.load import DocumentLimits, read_path

    limits = DocumentLimits.from_settings(get_settings())
    files, ignored = _collect(args.paths)
    created = not _library(args).exists(args.kb)
    kb = _kb(args, create=True)
    added, unchanged, failed = [], [], []
    bar = _ProgressBar(len(files))
    try:
        with kb.bulk():  # the snapshot and BM25 index are rebuilt once, at the end
            for index, path in enumerate(files):
                bar.show(index, path.name, 0.0, "读取 / reading")
                try:
                    result = ingest_file(kb, read_path(path, limits.max_bytes), path.name, limits, source="cli",
                                         progress=lambda f, msg, i=index, n=path.name: bar.show(i, n, f, msg),
                                         on_wait=lambda msg: print(f"\n{msg}", file=sys.stderr, flush=True))
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
    elif args.optimize:
        kb.optimize()
    _summary(added, unchanged, failed, ignored)
    return 1 if failed else 0


def _summary(added, unchanged, failed, ignored: int) -> None:
    for path, result in added:
        ocr = f", OCR pages {','.join(map(str, result.ocr_pages))}" if result.ocr_pages else ""
        print(f"✓ {path}: {result.n_articles} articles added (doc {result.doc_id}{ocr})")
    for path, result in unchanged:
        print(f"= {path}: unchanged, already in the KB (doc {result.doc_id})")
    for path, reason in failed:
        print(f"✗ {path}: {reason}", file=sys.stderr)
    print(f"{len(added)} added, {len(unchanged)} unchanged, {len(failed)} failed"
          + (f"; {ignored} other files ignored (not .pdf/.docx/.txt/.md)" if ignored else ""))


def cmd_remove(args) -> int:
    doc = _kb(args).remove_document(args.doc)
    print(f"removed {doc.file_name} ({doc.n_articles} articles) from {args.kb}")
    return 0


def cmd_search(args) -> int:
    from rag.defaults import retriever_from

    settings = get_settings()
    kb = _kb(args)
    result = retriever_from(settings, kb).retrieve(args.question, k=args.k, mode=args.mode)
    if result.abstain:
        print("(no article looks relevant: the assistant would abstain)")
    for n, c in enumerate(result.citations, start=1):
        a = c.article
        snippet = a.text.replace("\n", " ")[:60]
        print(f"{n:2}. {c.label}\t{c.score:.4f}\t[{'+'.join(c.retrievers)}]\t{a.chapter}\t{snippet}…")
    print(f"({result.timings_ms.get('total', 0):.0f} ms)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m rag")
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
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
