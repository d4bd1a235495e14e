"""`python -m rag eval`: batch prediction + BLEU/ROUGE/accuracy for one or more endpoints,
optionally an LLM judge comparing the first two.

rag/__main__.py calls `add_cli(subparsers)` and runs the command with the settings it read; the
work is done by rag/eval/evaluate.py and rag/eval/judge.py, which this module only wires to
those settings and their endpoints.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from rag.eval import evaluate as ev
from rag.eval.datasets import load_samples
from rag.errors import RagError
from rag.eval.judge import DEFAULT_RUBRIC, judge_predictions, parse_rubric, verdict_table
from server.errors import ServerError
from settings import Settings


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval", help="predict a dataset with endpoints and score it (BLEU-4, ROUGE, accuracy)",
        description="Writes <out>/<endpoint>/generated_predictions.jsonl (resumable) and metrics.json.")
    p.add_argument("--dataset", required=True, type=Path,
                   help="alpaca JSON/JSONL, question/answer JSONL, CMMLU CSV, or a folder of them")
    p.add_argument("--endpoint", action="append", dest="endpoints", metavar="NAME",
                   help="endpoint name from settings (repeatable; default: the default endpoint)")
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: <data_dir>/eval/<dataset>)")
    p.add_argument("--concurrency", type=int, default=ev.DEFAULT_CONCURRENCY)
    p.add_argument("--system", default=None, help="system prompt for every row")
    p.add_argument("--rag", metavar="KB", nargs="?", const="",
                   help="RAG mode: answer from articles retrieved from KB (the default KB without a name)")
    p.add_argument("--fresh", action="store_true",
                   help="discard earlier predictions in --out instead of resuming them")
    defaults = ev.Sampling()
    for field, kind in (("temperature", float), ("top_p", float), ("top_k", int),
                        ("max_new_tokens", int), ("repetition_penalty", float), ("seed", int)):
        p.add_argument("--" + field.replace("_", "-"), type=kind, default=getattr(defaults, field))
    p.add_argument("--judge", metavar="NAME", help="judge endpoint: score the first two endpoints' answers")
    p.add_argument("--rubric", type=Path, help="rubric file, one '维度：说明' per line (default: 7 labor-law dimensions)")
    p.set_defaults(run=run)


def rag_message_builder(kb_name: str, settings: Settings, client) -> ev.BuildMessages:
    """The RAG-mode hook: retrieve articles for each question with the chat's retriever (the
    client's endpoint switches included) and build the grounded prompt, sized to the endpoint's
    context window like the app's."""
    from rag.answer.budget import rag_messages
    from rag.defaults import assistant_from, library_from, open_kb

    kb = open_kb(library_from(settings), kb_name or settings.default_kb, settings.default_kb)
    assistant = assistant_from(settings, kb, client)
    retriever, budget = assistant.retriever, assistant.sampling(False).rag["budget"]
    lock = threading.Lock()  # prediction threads share one embedder and index

    def build(question: str) -> list[dict]:
        with lock:
            found = retriever.retrieve(question, k=settings.top_k)
        return rag_messages(question, found.citations, found.abstain, budget)

    return build


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return _run(args, settings)
    except (RagError, ServerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from rag.defaults import chat_client_from  # lazily: it loads the KB stack
    names = args.endpoints or [settings.default_endpoint]
    mode = "" if args.rag is None else f"-rag-{args.rag or settings.default_kb}"  # never mix modes in one file
    out = args.out or settings.data_dir / "eval" / f"{args.dataset.stem}{mode}"
    samples = load_samples(args.dataset, args.max_samples)
    sampling = ev.Sampling(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                           max_new_tokens=args.max_new_tokens,
                           repetition_penalty=args.repetition_penalty, seed=args.seed)
    clients = {name: chat_client_from(settings, name) for name in names}
    build_messages = (rag_message_builder(args.rag, settings, next(iter(clients.values())))
                      if args.rag is not None else None)
    print(f"{len(samples)} samples from {args.dataset} → {out}", file=sys.stderr)

    def progress(name: str, done: int, total: int) -> None:
        print(f"\r{name}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    results = ev.evaluate(samples, clients, out, sampling=sampling, concurrency=args.concurrency,
                          system_prompt=args.system, build_messages=build_messages,
                          resume=not args.fresh, on_progress=progress)
    for name, scores in results.items():
        print(f"{name}: " + "  ".join(f"{k}={v}" for k, v in scores.items()))
    if args.judge:
        if len(names) < 2:
            raise RagError("--judge compares two endpoints: pass --endpoint twice.")
        rubric = parse_rubric(args.rubric.read_text(encoding="utf-8")) if args.rubric else DEFAULT_RUBRIC
        verdicts = judge_predictions(ev.predictions_path(out, names[0]), ev.predictions_path(out, names[1]),
                                     chat_client_from(settings, args.judge), rubric)
        table = verdict_table(verdicts, names[0], names[1])
        (Path(out) / "judge.json").write_text(json.dumps(
            {"table": table, "verdicts": [v.__dict__ for v in verdicts]}, ensure_ascii=False, indent=2),
            encoding="utf-8")
        for row in table:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
        failed = sum(1 for v in verdicts if v.error)
        if failed:
            print(f"judge: {failed} of {len(verdicts)} replies unreadable (see judge.json)", file=sys.stderr)
    print(f"predictions and metrics in {out}", file=sys.stderr)
    return 0
