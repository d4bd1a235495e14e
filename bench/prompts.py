"""Prompt snapshot: what each question retrieves and the exact messages each mode sends the model.

    python bench/prompts.py --out BEFORE.jsonl [--grounds default,corpus] [--split dev]
    ... refactor or edit ...
    python bench/prompts.py --out AFTER.jsonl && cmp BEFORE.jsonl AFTER.jsonl

For refactors that must not change behaviour (issue 22) and to see what a prompt edit
changes: no model runs. Each question goes through the app's own parts (rag/defaults.py:
retriever, answer options for the default endpoint; rag.eval.answers.run_question: RAG, raw
and oracle prompts), with a client that records the messages instead of generating. Grounds:
`default` is the default 劳动法规 KB as the app builds it (bench/retrieval.py's copy under
data/bench/app) with ../shared/data/eval/stard_labor_dev.jsonl; `corpus` is the lawrefbook
bench KB (built by bench/retrieval.py) with STARD --split of stard_lecoqa_dev.jsonl; --kb names
another bench KB for that ground (e.g. the 15 statutes of ../shared/data/statutes, which builds
on 2 CPU cores where the 65k-article lawrefbook needs GPU vectors).
Writes one JSON line per question and prints a SHA-256 per ground.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.defaults import assistant_from, chat_client_from, library_from, open_kb  # noqa: E402
from rag.eval import answers as qa  # noqa: E402
from settings import Settings, get_settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


class Recorder:
    """Stands where the chat client stands; keeps the messages, streams nothing."""

    def __init__(self, client):
        self.endpoint, self.token_limit = client.endpoint, client.token_limit
        self.sent: list[dict] = []

    def stream(self, messages, **sampling):
        self.sent.append({"messages": messages, "sampling": sampling})
        return iter(())


def ground_parts(ground: str, split: str, kb_name: str | None = None):
    """(kb, rows, settings) of one ground, opened as the app and the benches open them."""
    base = get_settings()
    if ground == "default":
        s = Settings(data_dir=base.data_dir / "bench" / "app", models_dir=base.models_dir)
        kb = open_kb(library_from(s), s.default_kb, s.default_kb)
        path = SHARED / "eval" / "stard_labor_dev.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return kb, rows, s
    sys.path.insert(0, str(ROOT / "bench"))
    import answers as bench_answers  # bench/answers.py: the bench KB and its rows

    kb, _ = bench_answers.open_kb(base, kb_name)
    rows = bench_answers.load_rows(SHARED / "eval" / "stard_lecoqa_dev.jsonl", split, 0)
    return kb, rows, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--grounds", default="default,corpus")
    ap.add_argument("--split", choices=("dev", "train", "all"), default="dev")
    ap.add_argument("--kb", default=None, help="the corpus ground's bench KB (default: bench/answers.py's, lawrefbook)")
    args = ap.parse_args()
    with args.out.open("w", encoding="utf-8") as out:
        for ground in args.grounds.split(","):
            kb, rows, s = ground_parts(ground, args.split, args.kb)
            llm = Recorder(chat_client_from(s))
            assistant = assistant_from(s, kb, llm)  # the chat's own road, with a recording client
            digest = hashlib.sha256()
            for row in rows:
                llm.sent.clear()
                result = qa.run_question(row, assistant)
                line = json.dumps({"ground": ground, "query_id": row.get("query_id"),
                                   "retrieval": result["retrieval"], "sent": llm.sent},
                                  ensure_ascii=False, sort_keys=True)
                digest.update(line.encode())
                out.write(line + "\n")
            print(f"{ground}: {len(rows)} questions, KB {kb.name} ({len(kb.articles)} articles), "
                  f"sha256 {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
