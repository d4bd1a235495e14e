"""The served model's retrieval steps on the default KB (issue 20 item 3): shipped, + query
rewrite (HyDE), + listwise rerank of the top 20, + both, on the same questions in one run,
with each LLM step's latency priced on its own. Called by `bench/retrieval.py --grounds
default --llm-steps`; the model is the endpoint's (default: the embedded 1.5B on the CPU).

Every question runs all four rows before the next question starts, so a run stopped by
--llm-budget-s (seconds from the start of the process) still scores every row on the same questions; each question's lists and
timings go to a JSONL file as they come (nothing to resume: a new run starts over).

Does not: tune anything. The prompts were written once (rag/prompts.py); the labour
questions are for measuring and choosing only.
"""
from __future__ import annotations

import json
import sys
import time
from copy import deepcopy
from pathlib import Path

from rag.defaults import chat_client_from, llm_steps_for
from rag.retrieval.hybrid import CANDIDATES

ROWS = ("shipped", "+ rewrite", "+ llm rerank", "+ both")


def _ranked(citations) -> list[tuple[str, int | None, str]]:
    return [(c.article.law_title, c.article.article_no, c.article.text) for c in citations]


def llm_rows(retriever, rows: list[dict], golds, settings, endpoint: str | None, deadline: float,
             log_path: Path, score_run, percentile, k: int) -> tuple[dict, dict]:
    """(results per row as bench/retrieval.py prints them, latency summary of the LLM steps)."""
    t = time.perf_counter()
    client = chat_client_from(settings, endpoint)
    print(f"endpoint {client.name} ({client.endpoint.model}) ready in {time.perf_counter() - t:.0f} s",
          file=sys.stderr, flush=True)
    rewriter, reranker = llm_steps_for(client, rewrite=True, rerank=True)
    retriever.retrieve("预热")
    ranked = {row: [] for row in ROWS}
    lat = {"retrieve": [], "rewrite": [], "rerank (shipped list)": [], "rerank (fused list)": []}
    notes = 0
    with log_path.open("w") as log:
        for i, r in enumerate(rows):
            if time.time() > deadline:
                print(f"  --llm-budget-s spent after {i} questions", file=sys.stderr)
                break
            q = r["question"]
            t = time.perf_counter()
            plain = retriever.retrieve(q, k=CANDIDATES)
            lat["retrieve"].append((time.perf_counter() - t) * 1000)
            fused = rewriter.expand(q, deepcopy(plain), lambda text: retriever.retrieve(text, k=CANDIDATES))
            lat["rewrite"].append(fused.timings_ms["rewrite"])
            reranked = reranker.rerank(q, deepcopy(plain))
            lat["rerank (shipped list)"].append(reranked.timings_ms["llm_rerank"])
            both = reranker.rerank(q, deepcopy(fused))
            lat["rerank (fused list)"].append(both.timings_ms["llm_rerank"])
            for row, found in zip(ROWS, (plain, fused, reranked, both)):
                ranked[row].append(_ranked(found.citations[:k]))
            step_notes = fused.notes + reranked.notes + both.notes
            notes += sum(not n.startswith("query_rewrite: ") or "failed" in n or "empty" in n for n in step_notes)
            log.write(json.dumps({"id": r.get("query_id", r.get("id")), "rewrite": fused.rewritten, "notes": step_notes,
                                  "timings_ms": {"rewrite": fused.timings_ms["rewrite"],
                                                 "rerank": reranked.timings_ms["llm_rerank"],
                                                 "rerank_fused": both.timings_ms["llm_rerank"]},
                                  "top5": {row: [f"{law}{no}" for law, no, _ in ranked[row][-1][:5]] for row in ROWS}},
                                 ensure_ascii=False) + "\n")
            log.flush()
            print(f"  {i + 1}/{len(rows)} rewrite {fused.timings_ms['rewrite'] / 1000:.1f} s, rerank "
                  f"{reranked.timings_ms['llm_rerank'] / 1000:.1f} + {both.timings_ms['llm_rerank'] / 1000:.1f} s"
                  f"{' · ' + '; '.join(n for n in step_notes if not n.startswith('query_rewrite: ') or 'failed' in n) if step_notes else ''}",
                  file=sys.stderr, flush=True)
    n = len(ranked["shipped"])
    if not n:
        raise SystemExit("no question finished within --llm-budget-s")
    results = {}
    for row in ROWS:
        extra = [0.0] * n
        if row in ("+ rewrite", "+ both"):
            extra = [a + b for a, b in zip(extra, lat["rewrite"])]
        if row == "+ llm rerank":
            extra = lat["rerank (shipped list)"]
        if row == "+ both":
            extra = [a + b for a, b in zip(extra, lat["rerank (fused list)"])]
        total = [a + b for a, b in zip(lat["retrieve"][:n], extra)]
        results[row] = {**score_run(ranked[row], golds[:n]), "p50_ms": percentile(total, 50), "p95_ms": percentile(total, 95)}
    steps = {name: {"p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95), "n": len(v)} for name, v in lat.items()}
    steps["fallback notes"] = notes
    return results, steps
