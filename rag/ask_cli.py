"""`python -m rag ask "问题" [--kb NAME] [--endpoint NAME] [--raw]`: one question through
rag.assistant, its events printed. An edge like rag/__main__.py, which hands it the settings:
it builds its parts with rag.defaults, so it lives above rag/answer/, not in it."""
from __future__ import annotations

import sys

from server.errors import ServerError
from settings import Settings

STATUS_MARK = {"ok": "✓ verified", "not_retrieved": "⚠ not among the retrieved articles",
               "not_in_kb": "✗ not in the knowledge base", "text_mismatch": "✗ quoted text differs"}


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("ask", help="answer a question with retrieval (RAG) and check its citations")
    p.add_argument("question")
    p.add_argument("--kb", default=None)
    p.add_argument("--endpoint", default=None)
    p.add_argument("--raw", action="store_true", help="also print the model's answer without retrieval")
    p.set_defaults(run=run)


def run(args, settings: Settings) -> int:
    from rag.assistant import Articles, Done, Query, Streamed
    from rag.answer.verify import needs_basis
    from rag.answer.conversation import BASIS_ARTICLES, BASIS_NOTE
    from rag.defaults import assistant_from, chat_client_from, library_from, open_kb

    kb = open_kb(library_from(settings), args.kb or settings.default_kb, settings.default_kb)
    try:
        client, error = chat_client_from(settings, args.endpoint), ""
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        client, error = None, str(e)
    assistant = assistant_from(settings, kb, client, endpoint_name=args.endpoint or settings.default_endpoint,
                               llm_error=error)
    # A crashed server keeps the answer so far; the raw request restarts it (server/client.py).
    # The sides are answered one after the other so the terminal prints one, then the other.
    side = None
    for event in assistant.ask(args.question, compare=args.raw, parallel=False):
        if isinstance(event, Query) and event.text != args.question:
            print(f"(检索用的问题 / query: {event.text})", file=sys.stderr)
        elif isinstance(event, Articles):
            for note in event.notes:  # the endpoint's LLM retrieval steps, when it turns them on
                print(f"({note})", file=sys.stderr)
            abstain = event.abstain
        elif isinstance(event, Streamed):
            if event.side != side and client is not None:
                side = event.side
                print("\n== Raw model" if side == "raw" else
                      "== RAG answer" + (" (no relevant article found)" if abstain else ""))
            if event.delta is not None and event.delta.kind == "answer":
                print(event.delta.text, end="", flush=True)
            elif event.delta is not None and event.delta.kind == "note":  # e.g. the server was restarted
                print(event.delta.text.strip(), file=sys.stderr, flush=True)
            elif event.delta is None:
                print(flush=True)
                if event.error is not None:
                    print(f"error: {event.error}", file=sys.stderr, flush=True)
        elif isinstance(event, Done):
            turn = event.turn
    failed = client is None or any(r is not None and r.error for r in (turn.rag, turn.raw))
    if needs_basis(turn.rag.answer, turn.verified, turn.citations, turn.abstain):
        print(f"\n== {BASIS_NOTE}")
        for c in turn.citations[:BASIS_ARTICLES]:
            print(f"  {c.label}：{c.article.text}")
    print("\n== Citations in the answer")
    for v in turn.verified:
        flag = " (repealed)" if v.repealed else ""
        print(f"  {v.mention}: {STATUS_MARK[v.status]}{flag}")
    print("== Retrieved articles")
    for c in turn.citations:
        print(f"  {c.label} [{'+'.join(c.retrievers)}]")
    return 1 if failed else 0
