"""Answer benchmark: RAG vs raw model vs oracle (gold articles in the prompt), per question.

    python bench/answers.py [--questions FILE] [--split dev|train|all] [--limit N]
                            [--kb NAME] [--endpoint NAME] [--judge ENDPOINT] [--modes rag,raw,oracle]

Questions: JSONL with `question`, `gold_articles` [{law, article_cn, text}] and optionally a
lawyer's `answer` (default: the STARD dev split of ../shared/data/eval/stard_lecoqa_dev.jsonl).
KB: by default `bench-lawrefbook-<embedder id>`, the all-of-lawrefbook KB that bench/retrieval.py
builds and re-embeds for the configured embedder
(the gold articles span the whole legal system; the default 劳动法规 KB would hold few of
them); `--kb NAME` takes a KB of the bench library or of the app's own library.

Everything goes through the app's parts (rag/defaults.py: retriever, client, sampling and
context budget; rag/answer/: prompts; rag/eval/answers.py: scoring, including the chat's
attribution check per answer: supported-claim rate and number/negation mismatches, the raw
answer checked against the RAG answer's retrieved articles). Appends one JSON line
per question to the output file and resumes from it; prints the table and writes
summary.json beside it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.prompts import PROMPT_VERSION  # noqa: E402
from rag.defaults import assistant_from, chat_client_from, embedder_from  # noqa: E402
from rag.kb import embedder_id  # noqa: E402
from rag.eval import answers as bench  # noqa: E402
from rag.kb import KnowledgeBases  # noqa: E402
from settings import get_settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BENCH_KB = "bench-lawrefbook"  # + "-<embedder id>": bench/retrieval.py's copy for the current embedder
REEMBED_LIMIT = 20_000  # articles: re-embedding more on a CPU takes hours; refuse instead


def load_rows(path: Path, split: str, limit: int) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if split != "all":
        rows = [r for r in rows if r.get("stard_split") == split]
    for n, r in enumerate(rows):
        r.setdefault("query_id", f"row{n}")
    return rows[:limit] if limit else rows


def open_kb(settings, name: str | None):
    """A KB of the bench library (data/bench/kbs) or, failing that, of the app's library."""
    embedder = embedder_from(settings)
    name = name or f"{BENCH_KB}-{embedder_id(embedder)}"
    for root in (settings.data_dir / "bench" / "kbs", settings.kb_dir):
        library = KnowledgeBases(root, embedder, settings.vector_uri)
        if library.exists(name):
            if library.needs_reembed(name) and len(library.open_stored(name).articles) > REEMBED_LIMIT:
                raise SystemExit(f"KB {name!r} was embedded by another model; re-embedding it here would take "
                                 "hours. Run bench/retrieval.py (with --trained-vectors from the GPU) first.")
            return library.open(name), name
    raise SystemExit(f"No KB named {name!r}. Build the default one with "
                     "`python bench/retrieval.py --vectors .gpuembed/vectors` (docs/retrieval.md), "
                     "or pass --kb with a KB listed by `python -m rag kbs`.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, default=SHARED / "eval" / "stard_lecoqa_dev.jsonl")
    ap.add_argument("--split", choices=("dev", "train", "all"), default="dev")
    ap.add_argument("--limit", type=int, default=0, help="first N questions only (0: all)")
    ap.add_argument("--kb", default=None, help=f"default: {BENCH_KB}-<embedder id>")
    ap.add_argument("--endpoint", default=None, help="endpoint name from settings (default: the default endpoint)")
    ap.add_argument("--judge", default=None, help="judge endpoint: compares RAG and raw, both orders")
    ap.add_argument("--modes", default=",".join(bench.MODES))
    ap.add_argument("--out", type=Path, default=None, help="results JSONL (default under data/bench/answers/)")
    ap.add_argument("--fresh", action="store_true", help="discard earlier results in --out")
    ap.add_argument("--dense-weight", type=float, default=None,
                    help="fusion weight of the dense list instead of the shipped one (by KB size), for before/after")
    ap.add_argument("--budget", type=int, default=None,
                    help="article characters instead of the endpoint's budget (bench/latency.py's lever)")
    args = ap.parse_args()

    settings = get_settings()
    modes = [m for m in args.modes.split(",") if m]
    rows = load_rows(args.questions, args.split, args.limit)
    kb, args.kb = open_kb(settings, args.kb)
    client = chat_client_from(settings, args.endpoint)
    assistant = assistant_from(settings, kb, client, budget=args.budget or None)  # the chat's own road
    retriever = assistant.retriever
    if args.dense_weight is not None:
        retriever.dense_weight = args.dense_weight
    judge = chat_client_from(settings, args.judge) if args.judge else None
    options = assistant.sampling(False).rag
    out = args.out or settings.data_dir / "bench" / "answers" / (
        f"{args.questions.stem}-{args.split}-{args.kb}-{client.name}-{PROMPT_VERSION}.jsonl")
    if args.fresh:
        out.unlink(missing_ok=True)
    print(f"{len(rows)} questions ({args.split}) · KB {args.kb} ({len(kb.articles)} articles) · "
          f"endpoint {client.name} ({client.endpoint.model}, {client.endpoint.context_tokens} tokens, "
          f"article budget {options['budget']} chars) · prompt {PROMPT_VERSION} → {out}", flush=True)

    retriever.retrieve("预热")  # the embedder's first call loads lazy parts
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  {done}/{total} questions, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    results = bench.run(rows, assistant, out, modes, progress, judge)
    summary = bench.summarize(results, modes)
    summary["settings"] = {"questions": str(args.questions), "split": args.split, "kb": args.kb,
                           "endpoint": client.name, "model": client.endpoint.model, "prompt": PROMPT_VERSION,
                           "k": settings.top_k, "budget_chars": options["budget"],
                           "sampling": {k: v for k, v in options.items() if k != "budget"}}
    print()
    print(bench.summary_table(summary))
    summary_file = out.with_suffix(".summary.json")
    summary_file.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"(rows in {out}; summary in {summary_file})")


if __name__ == "__main__":
    main()
