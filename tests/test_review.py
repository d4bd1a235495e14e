"""Blind review core (rag/review/sets.py, rag/review/stats.py): statistics against reference numbers,
storage under concurrent appends, and a review set walked with the loopback fake LLM."""
from __future__ import annotations

import json
import multiprocessing

import pytest
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from rag.prompts import PROMPT_VERSION
from rag.defaults import assistant_from
from rag.answer.attribution import Attribution
from rag.review.sets import (ItemCache, JudgeStore, ReviewSet, ReviewStore, a_side, generate_item, item_for, judge_item,
                        kb_content_hash, make_review, next_row)
from rag.review.stats import agreement, cohen_kappa, evidence_markdown, fleiss_kappa, summary, wilson
from server.client import ChatClient
from settings import Settings
from tests.fakes import ANSWER, FakeOpenAI

ROWS = [{"query_id": "q1", "question": "周末加班不调休，加班费怎么算？",
         "gold_articles": [{"law": "中华人民共和国劳动法", "article_cn": "第四十四条"}]},
        {"query_id": "q2", "question": "试用期最长多久？", "gold_articles": []}]


# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize("k,n", [(7, 10), (0, 5), (5, 5), (2, 3), (40, 100)])
def test_wilson_matches_scipy(k, n):
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_wilson_hand_value():
    low, high = wilson(7, 10)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)


def test_cohen_kappa_textbook_example_and_sklearn():
    # Wikipedia's example: 50 proposals, both yes 20, A yes B no 5, A no B yes 10, both no 15 → κ = 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    votes_a = ["rag", "rag", "raw", "tie", "both_bad", "rag", "raw"]
    votes_b = ["rag", "raw", "raw", "tie", "rag", "rag", "both_bad"]
    assert cohen_kappa(votes_a, votes_b) == pytest.approx(cohen_kappa_score(votes_a, votes_b))


def test_fleiss_kappa_published_example():
    # Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories → κ ≈ 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert round(fleiss_kappa(table), 3) == 0.210
    assert fleiss_kappa([[2, 0], [1, 1], [3]]) is None  # unequal rater counts are refused


def vote(reviewer, query_id, winner):
    return {"reviewer": reviewer, "query_id": query_id, "winner": winner}


def test_agreement_two_and_three_reviewers():
    two = [vote("甲", "q1", "rag"), vote("乙", "q1", "rag"), vote("甲", "q2", "raw"), vote("乙", "q2", "tie"),
           vote("甲", "q3", "rag")]  # q3 has one vote: not shared
    a = agreement(two)
    assert a["items"] == 2 and a["percent"] == 0.5 and a["method"] == "Cohen's kappa"
    assert a["kappa"] == pytest.approx(cohen_kappa_score(["rag", "raw"], ["rag", "tie"]))
    three = two[:4] + [vote("丙", "q1", "rag"), vote("丙", "q2", "raw")]
    a = agreement(three)
    assert a["method"] == "Fleiss' kappa" and a["kappa_items"] == 2
    assert a["percent"] == pytest.approx((1 + 1 / 3) / 2)
    # q1: 3 × rag; q2: raw, tie, raw → P_i = 1, 1/3; p_j = rag .5, raw 1/3, tie 1/6
    p_bar, p_e = (1 + 1 / 3) / 2, 0.25 + 1 / 9 + 1 / 36
    assert a["kappa"] == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert agreement([vote("甲", "q1", "rag")]) is None


# ---------------------------------------------------------------- storage

def _append_many(path, worker):
    store = ReviewStore(path)
    for n in range(200):
        store.append({"set_id": "s", "reviewer": f"w{worker}", "query_id": f"q{n}", "note": "长" * 3000})


def test_concurrent_processes_never_interleave_lines(tmp_path):
    procs = [multiprocessing.get_context("fork").Process(target=_append_many, args=(tmp_path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = (tmp_path / "reviews.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 600 and all(json.loads(line)["note"] == "长" * 3000 for line in lines)
    assert len(ReviewStore(tmp_path).reviews(set_id="s", reviewer="w1")) == 200


def test_a_side_is_seeded_per_item():
    sides = [a_side("set1", f"q{n}") for n in range(40)]
    assert sides == [a_side("set1", f"q{n}") for n in range(40)]  # reproducible
    assert {s for _, s in sides} == {"rag", "raw"}  # and not constant


# ---------------------------------------------------------------- a set walked with the fake LLM

def assistant_for(kb, client):
    """The review walk's road (ui/review.py): the chat's assistant with the set's max_tokens and top_k."""
    return assistant_from(Settings(top_k=4, rerank_model=None), kb, client, max_tokens=32)


def review_set(kb, fake) -> ReviewSet:
    return ReviewSet(name="t.jsonl", questions_hash="h", kb=kb.name, kb_hash=kb_content_hash(kb.documents()),
                     endpoint="fake", model="fake", base_url=fake.endpoint.base_url, sampling={"max_tokens": 32}, top_k=4)


def test_review_set_is_generated_once_voted_resumed_and_exported(tmp_path, labor_kb):
    with FakeOpenAI() as fake:
        client = ChatClient(fake.endpoint, "fake")
        rs = review_set(labor_kb, fake)
        assistant = assistant_for(labor_kb, client)
        cache, store = ItemCache(tmp_path), ReviewStore(tmp_path)
        item = item_for(ROWS[0], rs, cache, assistant)
        assert len(fake.requests) == 2 and fake.requests[0]["max_tokens"] == 32
        assert item_for(ROWS[0], rs, cache, assistant) == item
        assert len(fake.requests) == 2  # cached: not generated again
        assert "第四十四条" in fake.requests[0]["messages"][-1]["content"]  # RAG prompt held the article
        assert fake.requests[1]["messages"][-1]["content"] == ROWS[0]["question"]  # raw: the question alone
        # Both answers' citations are checked against the same retrieved articles.
        assert [v["status"] for v in item["rag"]["verified"]] == [v["status"] for v in item["raw"]["verified"]] == ["ok"]
        assert item["topic"] == "劳动法" and item["prompt_version"] == PROMPT_VERSION
        assert item["kb_hash"] == kb_content_hash(labor_kb.documents()) and len(item["kb_hash"]) == 64

        review = make_review(item, " 张律师 ", "A", {item["a_side"]: ["wrong_article"]}, "A 引错了条")
        assert review["winner"] == item["a_side"] and review["reviewer"] == "张律师"
        store.append(review)
        assert next_row(ROWS, store.reviews(rs.set_id, "张律师")) == 1  # resumes at the second question
        assert next_row(ROWS, store.reviews(rs.set_id, "李律师")) == 0

    verdict = json.dumps({"A": {"准确性": 9}, "B": {"准确性": 3}, "winner": "A", "reason": "A 更准确"})
    with FakeOpenAI(answer=verdict) as judge_server:  # always prefers whatever is shown first
        judge = judge_item(item, ChatClient(judge_server.endpoint, "judge"), "judge", {"准确性": "法律结论是否正确"})
        assert judge["winners"] == ["rag", "raw"] and judge["winner"] == "tie"  # position bias shows as a tie
        JudgeStore(tmp_path).append(judge)
    verdicts = JudgeStore(tmp_path).verdicts(rs.set_id)
    s = summary(store.reviews(rs.set_id), verdicts)
    assert s["outcomes"][item["a_side"]]["k"] == 1 and s["tags"]["wrong_article"][item["a_side"]]["k"] == 1
    pack = evidence_markdown(store.reviews(rs.set_id), verdicts)
    assert rs.set_id in pack and item["kb_hash"] in pack and "A 引错了条" in pack
    assert ANSWER in pack and "A = " in pack and "《劳动法》第四十四条" in pack


def test_item_records_both_answers_attribution_against_the_same_articles(tmp_path, labor_kb):
    wrong = "根据《劳动法》第四十四条，工作日安排劳动者延长工作时间的，应按 2 倍支付加班费。"
    with FakeOpenAI(answer=wrong) as fake:  # RAG and raw say the same: their checks must agree
        client = ChatClient(fake.endpoint, "fake")
        rs = review_set(labor_kb, fake)
        cache = ItemCache(tmp_path)
        item_for(ROWS[0], rs, cache, assistant_for(labor_kb, client))
    item = ItemCache(tmp_path).get(rs.set_id, "q1")  # as stored and read back
    for side in ("rag", "raw"):
        checked = item[side]["attribution"]
        assert checked["counts"]["number_mismatches"] == 1 and "1 处数字与法条不符" in checked["summary"]
        [flag] = [f for c in Attribution.from_dict(checked).claims for f in c.flags]
        assert flag.message == "回答写 2 倍；第四十四条为 150%"
    assert item["rag"]["attribution"]["claims"] == item["raw"]["attribution"]["claims"]
    pack = evidence_markdown([make_review(item, "张律师", "tie")])
    assert pack.count("> 法条核对：1 句中") == 2  # both answers, in the same words

    with FakeOpenAI(answer="现有法条不足以回答这个问题。") as fake:
        refused = generate_item(ROWS[1], review_set(labor_kb, fake),
                                assistant_for(labor_kb, ChatClient(fake.endpoint, "fake")))
    assert refused["rag"]["attribution"] is None and refused["raw"]["attribution"] is None

    before = {**item, "rag": {k: v for k, v in item["rag"].items() if k != "attribution"},
              "raw": {k: v for k, v in item["raw"].items() if k != "attribution"}}  # stored before issue 21
    pack = evidence_markdown([make_review(before, "张律师", "tie")])
    assert "法条核对" not in pack and wrong in pack


def test_make_review_rejects_unknown_votes_and_tags():
    item = {"a_side": "raw"}
    assert make_review(item, "x", "A")["winner"] == "raw"
    assert make_review(item, "x", "B")["winner"] == "rag"
    with pytest.raises(ValueError):
        make_review(item, "x", "C")
    with pytest.raises(ValueError):
        make_review(item, "x", "tie", {"rag": ["typo"]})
