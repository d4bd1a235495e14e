"""Blind expert review of RAG vs the raw model: review sets, generated items, stored votes.

A review set is a question file (the benchmarks' JSONL format, rag/eval/questions.py) asked
of one KB snapshot and one endpoint with fixed sampling and prompt version; its id is a hash
of all of these, so answers made under other settings are never mixed into it. For each
question `generate_item` retrieves, answers with and without retrieval (the chat page's own
rag.answer.generate.answer / raw), verifies the citations of both answers and traces both answers'
sentences to article words (the attribution summary, "8 句中 6 句有法条依据…") against the same
retrieved articles, so the marks do not give away which answer had retrieval.
Which answer is shown as A is drawn from a seed derived from the set id and question id:
reproducible, and stored with the item and every vote.

Storage is three append-only JSONL files in the data dir beside feedback.jsonl
(review_items.jsonl: generated items, so a rerun or a second reviewer never regenerates;
reviews.jsonl: votes, each carrying the whole item for audit; review_judge.jsonl: the LLM
judge's verdicts). Appends take an fcntl lock, so two app processes never interleave lines.
The store interface is append / reviews (and get / put for items) so it can be backed by
PostgreSQL later.

Statistics and the evidence pack live in rag/review/stats.py. Does not: import streamlit,
read settings, start servers (the caller passes parts in).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.store.base import RecordLog
from rag.store.lance import JsonlLog
from rag.prompts import PROMPT_VERSION
from rag.answer.verify import verify_citations
from rag.eval.answers import gold_refs, is_gold
from rag.documents.statutes import normalize_law_name

VOTES = ("A", "B", "tie", "both_bad")  # what the reviewer picks, in display terms
VOTE_LABELS = {"A": "A 更好", "B": "B 更好", "tie": "差不多（平局）", "both_bad": "都不好"}
OUTCOMES = ("rag", "raw", "tie", "both_bad")  # the same vote with the labels revealed
OUTCOME_LABELS = {"rag": "RAG 更好", "raw": "原始模型更好", "tie": "平局", "both_bad": "都不好"}
SIDE_LABELS = {"rag": "检索增强回答（RAG）", "raw": "原始模型（无检索）"}
ERROR_TAGS = {
    "wrong_article": "法条引用错误或缺失",
    "outdated_law": "引用了过时或已废止的法律",
    "wrong_conclusion": "结论错误",
    "unhelpful": "没有帮助",
    "unsafe": "不安全或误导",
}
UNKNOWN_TOPIC = "未知"
ID_CHARS = 12  # hex digits of a set id: short enough to read, long enough not to collide
ITEMS_FILE, REVIEWS_FILE, JUDGE_FILE = "review_items.jsonl", "reviews.jsonl", "review_judge.jsonl"


# ------------------------------------------------------------------ a review set

@dataclass(frozen=True)
class ReviewSet:
    """Everything the answers of a set depend on; `set_id` hashes it."""

    name: str  # the question file's name
    questions_hash: str  # sha256 of the question file's bytes
    kb: str
    kb_hash: str  # kb_content_hash(kb)
    endpoint: str
    model: str
    base_url: str
    sampling: dict = field(default_factory=dict)
    top_k: int = 8
    prompt_version: str = PROMPT_VERSION

    @property
    def set_id(self) -> str:
        return _digest(json.dumps(asdict(self), ensure_ascii=False, sort_keys=True))[:ID_CHARS]

    def to_dict(self) -> dict:
        return {"set_id": self.set_id, **asdict(self)}


def kb_content_hash(documents: Sequence) -> str:
    """sha256 over the sorted content hashes of a KB's documents (KnowledgeBase.documents()):
    the same files give the same hash, whatever order or time they were added in."""
    return _digest("\n".join(sorted(d.content_hash for d in documents)))


def questions_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def a_side(set_id: str, query_id: str) -> tuple[int, str]:
    """(seed, which answer is shown as A) for one item: a coin flip seeded by set and question."""
    seed = int(_digest(f"{set_id}:{query_id}")[:8], 16)
    return seed, "rag" if random.Random(seed).random() < 0.5 else "raw"


def topic_of(gold_articles: Sequence[dict], retrieved: Sequence[dict]) -> str:
    """The law a question is about: its first gold article's, else the top retrieved one's."""
    if gold_articles:
        return normalize_law_name(gold_articles[0].get("law", "")) or UNKNOWN_TOPIC
    if retrieved:
        return retrieved[0].get("law_short") or retrieved[0].get("law_title") or UNKNOWN_TOPIC
    return UNKNOWN_TOPIC


# ------------------------------------------------------------------ generating an item

def generate_item(row: dict, review_set: ReviewSet, assistant) -> dict:
    """Ask the question through the chat's own road (rag.assistant: retrieve, answer with RAG and
    raw, verify, attribute both answers against the same retrieved articles) and pick the A side.
    Each side's "attribution" is Attribution.to_dict(), or None when the answer was not checked
    (a refusal, or retrieval abstained); items stored before it have no such key (read it with
    .get). The assistant's sampling is the review set's (rag.defaults.assistant_from with its
    max_tokens). A server error propagates: a failed item is not stored, so the next run retries it."""
    if assistant.top_k != review_set.top_k:
        raise ValueError(f"the assistant retrieves {assistant.top_k} articles, the review set {review_set.top_k}")
    question = row["question"]
    turn = assistant.run(question, sides=("rag", "raw"), parallel=False)
    refs = gold_refs(row.get("gold_articles", []))
    retrieved = [{"label": c.label, "score": round(c.score, 4), "retrievers": c.retrievers,
                  "gold": is_gold(c.article, refs), **c.article.to_dict()} for c in turn.citations]
    sides = {}
    for side, reply in (("rag", turn.rag), ("raw", turn.raw)):
        if reply.failure is not None:
            raise reply.failure
        verified = turn.verified if side == "rag" else verify_citations(reply.answer, assistant.kb, turn.citations)
        sides[side] = {"answer": reply.answer, "seconds": round(reply.total_s, 2),
                       "verified": [asdict(v) | {"article": _article_ref(v.article)} for v in verified],
                       "attribution": reply.attribution.to_dict() if reply.attribution else None}
    seed, shown_as_a = a_side(review_set.set_id, row["query_id"])
    return {**review_set.to_dict(), "query_id": row["query_id"], "question": question,
            "gold_articles": row.get("gold_articles", []), "reference_answer": row.get("answer", ""),
            "topic": topic_of(row.get("gold_articles", []), retrieved), "abstain": turn.abstain,
            "retrieved": retrieved, "rag": sides["rag"], "raw": sides["raw"], "seed": seed, "a_side": shown_as_a,
            "generated_at": _now()}


def item_for(row: dict, review_set: ReviewSet, cache: "ItemCache", assistant) -> dict:
    """The item for a question: from the cache, or generated once and cached."""
    item = cache.get(review_set.set_id, row["query_id"])
    if item is None:
        item = generate_item(row, review_set, assistant)
        cache.put(item)
    return item


def make_review(item: dict, reviewer: str, vote: str, tags: dict[str, list[str]] | None = None,
                note: str = "") -> dict:
    """A vote on an item, in both terms (A/B as shown, rag/raw revealed), carrying the item."""
    if vote not in VOTES:
        raise ValueError(f"vote must be one of {VOTES}, got {vote!r}")
    b_side = "raw" if item["a_side"] == "rag" else "rag"
    winner = {"A": item["a_side"], "B": b_side}.get(vote, vote)
    tags = {side: sorted(set(tags.get(side, []))) for side in ("rag", "raw")} if tags else {"rag": [], "raw": []}
    unknown = {t for ts in tags.values() for t in ts} - set(ERROR_TAGS)
    if unknown:
        raise ValueError(f"unknown error tags {sorted(unknown)}; known: {sorted(ERROR_TAGS)}")
    return {**item, "reviewer": reviewer.strip(), "vote": vote, "winner": winner, "tags": tags,
            "note": note.strip(), "reviewed_at": _now()}


def next_row(rows: Sequence[dict], reviews: Sequence[dict]) -> int | None:
    """Index of the first question this reviewer has not voted on (reviews are theirs), or None."""
    done = {r["query_id"] for r in reviews}
    return next((n for n, row in enumerate(rows) if row["query_id"] not in done), None)


# ------------------------------------------------------------------ storage

def _log(where, file_name: str) -> RecordLog:
    """A RecordLog as given (the configured store's: `store.log(kind)`), or the JSONL file
    `file_name` in the folder `where`."""
    return where if hasattr(where, "append") else JsonlLog(Path(where) / file_name)


class ReviewStore:
    """Votes. A reviewer's later vote on the same item replaces the earlier one when read."""

    def __init__(self, where: "Path | RecordLog"):
        self._log = _log(where, REVIEWS_FILE)

    def append(self, review: dict) -> None:
        self._log.append(review)

    def reviews(self, set_id: str | None = None, reviewer: str | None = None) -> list[dict]:
        latest: dict[tuple[str, str, str], dict] = {}
        for r in self._log.records():
            if (set_id is None or r["set_id"] == set_id) and (reviewer is None or r["reviewer"] == reviewer.strip()):
                latest[(r["set_id"], r["reviewer"], r["query_id"])] = r
        return list(latest.values())


class ItemCache:
    """Generated items (both answers and their checks), by set id and question id."""

    def __init__(self, where: "Path | RecordLog"):
        self._log = _log(where, ITEMS_FILE)

    def get(self, set_id: str, query_id: str) -> dict | None:
        return next((i for i in reversed(self._log.records())
                     if i["set_id"] == set_id and i["query_id"] == query_id), None)

    def put(self, item: dict) -> None:
        self._log.append(item)


class JudgeStore:
    """The LLM judge's verdicts on reviewed items (the latest per item and judge wins)."""

    def __init__(self, where: "Path | RecordLog"):
        self._log = _log(where, JUDGE_FILE)

    def append(self, verdict: dict) -> None:
        self._log.append(verdict)

    def verdicts(self, set_id: str) -> dict[str, dict]:
        """query_id → the latest verdict in this set."""
        return {v["query_id"]: v for v in self._log.records() if v["set_id"] == set_id}


def judge_item(item: dict, judge, judge_name: str, rubric: dict[str, str]) -> dict:
    """rag.eval.judge.judge_swapped on an item's two answers (RAG first, then raw first),
    in rag/raw terms; `winner` is the verdict both orders agree on, else "tie"."""
    from rag.eval.judge import judge_swapped

    v = judge_swapped(item["question"], item["rag"]["answer"], item["raw"]["answer"], judge, rubric)
    names = {"A": "rag", "B": "raw", "tie": "tie", "": ""}
    winners = [names[w] for w in v.winners]
    said = [w for w in winners if w]
    winner = said[0] if said and all(w == said[0] for w in said) and len(said) == len(winners) else "tie"
    return {"set_id": item["set_id"], "query_id": item["query_id"], "judge": judge_name,
            "judge_model": getattr(getattr(judge, "endpoint", None), "model", ""), "winner": winner,
            "winners": winners, "scores": {"rag": v.scores_a, "raw": v.scores_b}, "reasons": v.reasons,
            "errors": v.errors, "judged_at": _now()}


def _article_ref(article) -> dict | None:
    if article is None:
        return None
    return {"label": f"《{article.law_short or article.law_title}》{article.article_cn}", "text": article.text,
            "status": article.status}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
