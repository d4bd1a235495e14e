"""`python -m rag ask "问题" [--kb NAME] [--endpoint NAME] [--raw]`: retrieve, answer, verify."""
from __future__ import annotations

import sys

from server.errors import ServerError

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
    from rag.answer.generate import answer, raw
    from rag.answer.verify import needs_basis, verify_citations
    from rag.answer.conversation import BASIS_ARTICLES, BASIS_NOTE
    from rag.defaults import answer_options, chat_client_from, library_from, open_kb, retriever_from, sampling_for
    from settings import get_settings

    settings = get_settings()
    kb = open_kb(library_from(settings), args.kb or settings.default_kb, settings.default_kb)
    failed = False
    try:
        client = chat_client_from(settings, args.endpoint)
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        client, failed = None, True
    found = retriever_from(settings, kb, llm=client).retrieve(args.question, k=settings.top_k)
    for note in found.notes:  # the endpoint's LLM retrieval steps, when it turns them on
        print(f"({note})", file=sys.stderr)
    text = ""
    if client is not None:
        print("== RAG answer" + (" (no relevant article found)" if found.abstain else ""))
        # A crashed server keeps the answer so far; the raw request restarts it (server/client.py).
        text, failed = _answer_or_error(lambda: answer(args.question, found.citations, client, found.abstain,
                                                       **answer_options(client.endpoint)))
        if args.raw:
            print("\n== Raw model")
            failed = _answer_or_error(lambda: raw(args.question, client, **sampling_for(client.endpoint)))[1] or failed
    verified = verify_citations(text, kb, found.citations)
    if needs_basis(text, verified, found.citations, found.abstain):
        print(f"\n== {BASIS_NOTE}")
        for c in found.citations[:BASIS_ARTICLES]:
            print(f"  {c.label}：{c.article.text}")
    print("\n== Citations in the answer")
    for v in verified:
        flag = " (repealed)" if v.repealed else ""
        print(f"  {v.mention}: {STATUS_MARK[v.status]}{flag}")
    print("== Retrieved articles")
    for c in found.citations:
        print(f"  {c.label} [{'+'.join(c.retrievers)}]")
    return 1 if failed else 0


def _answer_or_error(start) -> tuple[str, bool]:
    """Print a streamed answer; (the answer text, failed). A server error is printed after
    whatever text arrived, which is kept (the citations below are checked against it)."""
    parts: list[str] = []
    try:
        for d in start():
            if d.kind == "answer":
                parts.append(d.text)
                print(d.text, end="", flush=True)
            elif d.kind == "note":  # e.g. the server crashed and was restarted
                print(d.text.strip(), file=sys.stderr, flush=True)
    except ServerError as e:
        print(flush=True)
        print(f"error: {e}", file=sys.stderr, flush=True)
        return "".join(parts), True
    print()
    return "".join(parts), False
