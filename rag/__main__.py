"""CLI: python -m rag kbs | docs | ingest PATH... | remove DOC | search "问题" | ask "问题" | eval ... | demo-pack DIR

The same functions the app calls; library errors become their message and exit code 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.errors import RagError
from settings import get_settings


def _library(args):
    from rag.defaults import library_from

    return library_from(get_settings())


def _kb(args, create: bool = False):
    from rag.defaults import open_kb

    settings = get_settings()
    library = _library(args)
    if create and not library.exists(args.kb) and args.kb != settings.default_kb:
        return library.create(args.kb)
    return open_kb(library, args.kb, settings.default_kb,  # also says so when it re-embeds
                   progress=lambda f, msg: print(f"  {f:4.0%} {msg}", file=sys.stderr, flush=True))


def cmd_kbs(args) -> int:
    library = _library(args)
    for name in library.names():
        s = library.open_stored(name).stats()  # listing needs no vectors: no re-embedding here
        print(f"{name}\t{s['documents']} documents\t{s['articles']} articles\t{s['size_mb']} MB")
    if not library.names():
        print(f"no knowledge bases yet in {library.root}")
    return 0


def cmd_docs(args) -> int:
    for d in _kb(args).documents():
        print(f"{d.doc_id}\t{d.file_name}\t{d.n_articles} articles\t{d.added_at}\t{d.source}")
    return 0


def cmd_ingest(args) -> int:
    kb = _kb(args, create=True)
    failed = 0
    max_bytes = get_settings().max_upload_mb << 20
    for path in args.paths:
        try:
            result = kb.add_file(Path(path).read_bytes(), Path(path).name, max_bytes)
        except (RagError, OSError) as e:
            failed += 1
            print(f"✗ {path}: {e}", file=sys.stderr)
            continue
        state = "unchanged, already in the KB" if result.skipped else f"{result.n_articles} articles added"
        print(f"✓ {path}: {state} (doc {result.doc_id})")
    if args.optimize:
        kb.optimize()
    return 1 if failed else 0


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
    p = sub.add_parser("ingest", help="add PDF/TXT/MD files to a knowledge base")
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
    for module in ("rag.answer_cli", "rag.eval.cli", "knowledge.demo_pack"):
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
