"""`python -m rag ask "问题" [--kb NAME] [--endpoint NAME] [--raw]`: retrieve, answer, verify."""
from __future__ import annotations

import sys

STATUS_MARK = {"ok": "✓ verified", "not_retrieved": "⚠ not among the retrieved articles",
               "not_in_kb": "✗ not in the knowledge base", "text_mismatch": "✗ quoted text differs"}


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("ask", help="answer a question with retrieval (RAG) and check its citations")
    p.add_argument("question")
    p.add_argument("--kb", default=None)
    p.add_argument("--endpoint", default=None)
    p.add_argument("--raw", action="store_true", help="also print the model's answer without retrieval")
    p.set_defaults(run=run)


def run(args) -> int:
    from rag.answer import answer, raw, verify_citations
    from rag.defaults import library_from, open_kb, retriever_from
    from server import embedded
    from server.client import ChatClient
    from server.endpoints import resolve
    from server.errors import ServerError
    from settings import get_settings

    settings = get_settings()
    kb = open_kb(library_from(settings), args.kb or settings.default_kb, settings.default_kb)
    found = retriever_from(settings, kb).retrieve(args.question, k=settings.top_k)
    name = args.endpoint or settings.default_endpoint
    try:
        client = ChatClient(resolve(name, settings.endpoints, embedded.starter(settings)), name,
                            timeout=settings.request_timeout_s)
        print("== RAG answer" + (" (no relevant article found)" if found.abstain else ""))
        text = _print_stream(answer(args.question, found.citations, client, found.abstain))
        if args.raw:
            print("\n== Raw model")
            _print_stream(raw(args.question, client))
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n== Citations in the answer")
    for v in verify_citations(text, kb, found.citations):
        flag = " (repealed)" if v.repealed else ""
        print(f"  {v.mention}: {STATUS_MARK[v.status]}{flag}")
    print("== Retrieved articles")
    for c in found.citations:
        print(f"  {c.label} [{'+'.join(c.retrievers)}]")
    return 0


def _print_stream(deltas) -> str:
    answer_parts = []
    for d in deltas:
        if d.kind == "answer":
            answer_parts.append(d.text)
            print(d.text, end="", flush=True)
    print()
    return "".join(answer_parts)
