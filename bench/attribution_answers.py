"""1.5B-model answers for the attribution benchmark's hand-rated part (bench/attribution.py).

    python bench/attribution_answers.py [--limit N] [--endpoint NAME]

Asks the project's own labour questions (knowledge/examples/labor_questions.jsonl and
bench/labor_questions.jsonl; never ../shared/data/eval/stard_labor_dev.jsonl) with the app's
retriever, prompt and sampling, on a KB of 劳动合同法 + 劳动法 from ../shared/data/statutes
(built once under data/bench/attribution/kbs). Appends one JSON line per question to
data/bench/attribution/model_answers.jsonl: the question, the retrieved articles (label and
text) and the answer; a rerun resumes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.defaults import assistant_from, chat_client_from, embedder_from  # noqa: E402
from rag.ingest import ingest_file  # noqa: E402
from rag.kb import KnowledgeBases  # noqa: E402
from settings import get_settings  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from rag_prompts import questions  # noqa: E402  the project's labour questions, one reader

STATUTES = ROOT.parent / "shared" / "data" / "statutes"
KB_FILES = ("labor_contract_law_2012.txt", "labor_law_2018.txt")
KB_NAME = "attribution-labor"


def labor_kb(settings):
    library = KnowledgeBases(settings.data_dir / "bench" / "attribution" / "kbs", embedder_from(settings))
    if library.exists(KB_NAME):
        return library.open(KB_NAME)
    kb = library.create(KB_NAME, "劳动合同法 + 劳动法 (shared/data/statutes)")
    for name in KB_FILES:
        ingest_file(kb, (STATUTES / name).read_bytes(), name, 50 << 20, source="bench")
    return kb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--endpoint", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    settings = get_settings()
    out = args.out or settings.data_dir / "bench" / "attribution" / "model_answers.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["query_id"] for line in out.read_text(encoding="utf-8").splitlines()
            if line.strip()} if out.exists() else set()
    kb = labor_kb(settings)
    client = chat_client_from(settings, args.endpoint)
    assistant = assistant_from(settings, kb, client)  # the chat's own road
    for row in questions()[:args.limit]:
        if row["query_id"] in done:
            continue
        turn = assistant.run(row["question"])
        found, text, total = turn, turn.rag.answer, turn.rag.total_s
        record = {"query_id": row["query_id"], "question": row["question"], "model": client.endpoint.model,
                  "seconds": round(total, 1), "answer": text,
                  "citations": [{"label": c.label, "law_short": c.article.law_short, "article_cn": c.article.article_cn,
                                 "article_no": c.article.article_no, "text": c.article.text} for c in found.citations]}
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"{row['query_id']}: {total:.0f} s, {len(text)} chars", flush=True)


if __name__ == "__main__":
    main()
