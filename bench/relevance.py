"""Relevance benchmark: does the "weakly matching articles" warning (rag/answer/relevance.py) fire
on answers resting on articles that do not govern the question, and stay quiet on answers resting
on the gold articles? Figures in docs/attribution.md.

    python bench/relevance.py [--split train|dev] [--limit N] [--grid]

Ground: a KB of every gold article of ../shared/data/eval/stard_lecoqa_dev.jsonl (1,378 articles,
all splits, one document per law; built once under data/bench/kbs with the configured embedder,
legal-e5-small by default) and the app's retriever (hybrid, no reranker, k = 8). Never
stard_labor_dev.jsonl. For each question of --split:
  gold answer      an answer citing the gold articles that were retrieved (questions where none
                   was are left out: no answer from these articles could cite them) — a warning
                   there is a false warning;
  off-gold answer  an answer citing one retrieved article that is not gold, for each such article
                   — a warning there is a catch (not every non-gold neighbour is unrelated, so
                   this rate is a floor of what a reader would call right).
--grid tries STRONG_RANK × STRONG_SHARE; the shipped values are chosen on --split train (the most
catches with false warnings ≤ FALSE_WARNING_GOAL), then dev is run once.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answer import relevance  # noqa: E402
from rag.kb import KnowledgeBases  # noqa: E402
from rag.kb import embedder_id  # noqa: E402
from rag.retrieval.hybrid import HybridRetriever  # noqa: E402
from rag.types import Article, Citation, VerifiedCitation  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "eval" / "stard_lecoqa_dev.jsonl"
K = 8  # settings.top_k
KB_NAME = "stard-gold"  # + "-<embedder id>"
FALSE_WARNING_GOAL = 0.10
RANKS = range(1, K + 1)
SHARES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def load_rows(split: str, limit: int) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = [r for r in rows if r["stard_split"] == split]
    return rows, (chosen[:limit] if limit else chosen)


def open_kb(all_rows: list[dict]):
    """The gold-article KB: built on first use (one document per law), reused after."""
    from bench.attribution import gold_article
    from rag.defaults import embedder_from
    from rag.ingest import embed_articles
    from settings import get_settings

    settings = get_settings()
    embedder = embedder_from(settings)
    library = KnowledgeBases(settings.data_dir / "bench" / "kbs", embedder)
    name = f"{KB_NAME}-{embedder_id(embedder)}"
    if library.exists(name):
        return library.open(name)
    by_law: dict[str, dict[str, Article]] = defaultdict(dict)
    for r in all_rows:
        for g in r["gold_articles"]:
            a = gold_article(g)
            if a.article_no is not None:
                by_law[a.law_short][a.article_id] = a
    kb = library.create(name, "STARD gold articles (bench/relevance.py)")
    t0 = time.perf_counter()
    for law, articles in sorted(by_law.items()):
        found = sorted(articles.values(), key=lambda a: a.article_no)
        digest = hashlib.sha256("\n".join(a.article_id + a.text for a in found).encode()).hexdigest()
        kb.add_articles(found, f"{law}.txt", digest, "bench", embed_articles(embedder, found))
    print(f"built {name}: {len(kb.articles)} articles in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return kb


def is_gold(c: Citation, row: dict) -> bool:
    from bench.attribution import gold_article

    return any(c.article.article_id == gold_article(g).article_id for g in row["gold_articles"])


def cited(c: Citation) -> VerifiedCitation:
    return VerifiedCitation(c.article.law_short, c.article.article_cn, c.article.article_no, c.label, "ok", c.article)


def retrieve(kb, rows: list[dict]) -> list[tuple[dict, list[Citation]]]:
    retriever = HybridRetriever(kb, kb.embedder)
    return [(r, retriever.retrieve(r["question"], k=K).citations) for r in rows]


def measure(found: list[tuple[dict, list[Citation]]]) -> dict:
    """False warnings on gold answers, catches on off-gold answers, at the module's thresholds."""
    gold_warned, off_warned, no_gold = [], [], 0
    for row, citations in found:
        gold = [c for c in citations if is_gold(c, row)]
        if gold:
            gold_warned.append(relevance.reliance([cited(c) for c in gold], citations).weak)
        else:
            no_gold += 1
        off_warned += [relevance.reliance([cited(c)], citations).weak for c in citations if not is_gold(c, row)]
    return {"questions": len(found), "questions with a gold article in the top 8": len(gold_warned),
            "false warnings on gold answers": sum(gold_warned) / max(1, len(gold_warned)),
            "off-gold answers": len(off_warned),
            "warnings on off-gold answers (caught)": sum(off_warned) / max(1, len(off_warned)),
            "no gold retrieved": no_gold}


def grid(found) -> None:
    print("| STRONG_RANK | STRONG_SHARE | false warnings (gold answers) | caught (off-gold answers) |\n|---|---|---|---|")
    for rank in RANKS:
        for share in SHARES:
            relevance.STRONG_RANK, relevance.STRONG_SHARE = rank, share
            m = measure(found)
            mark = " ✓" if m["false warnings on gold answers"] <= FALSE_WARNING_GOAL else ""
            print(f"| {rank} | {share} | {100 * m['false warnings on gold answers']:.1f}%{mark} | "
                  f"{100 * m['warnings on off-gold answers (caught)']:.1f}% |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("train", "dev"), default="dev")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--grid", action="store_true")
    args = ap.parse_args()
    all_rows, rows = load_rows(args.split, args.limit)
    kb = open_kb(all_rows)
    t0 = time.perf_counter()
    found = retrieve(kb, rows)
    print(f"{len(rows)} {args.split} questions on {kb.name} ({len(kb.articles)} articles), "
          f"retrieved in {time.perf_counter() - t0:.0f} s")
    if args.grid:
        return grid(found)
    print(f"STRONG_RANK={relevance.STRONG_RANK} STRONG_SHARE={relevance.STRONG_SHARE}")
    print(json.dumps(measure(found), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
