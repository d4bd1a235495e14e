"""Metrics against values worked out by hand (LLaMA-Factory's ComputeSimilarity recipe:
ROUGE over jieba words, BLEU-4 over characters with smoothing method 3), MCQ letter
extraction, and retrieval metrics."""
from __future__ import annotations

import jieba
import pytest

from rag.eval.metrics import (
    choice_accuracy,
    extract_choice,
    hit_at_k,
    mean_similarity,
    reciprocal_rank,
    recall_at_k,
    similarity,
)

PRED = "患者应该多喝水，注意休息"
LABEL = "患者需要注意休息，多喝水"


def test_segmentation_the_hand_values_assume():
    assert list(jieba.cut(PRED)) == ["患者", "应该", "多喝水", "，", "注意", "休息"]
    assert list(jieba.cut(LABEL)) == ["患者", "需要", "注意", "休息", "，", "多喝水"]


def test_rouge_and_bleu_by_hand():
    s = similarity(PRED, LABEL)
    # ROUGE-1: 5 of 6 words shared both ways -> P = R = 5/6.
    assert s["rouge-1"] == pytest.approx(100 * 5 / 6, abs=1e-3)
    # ROUGE-2: 5 bigrams each side, only (注意, 休息) shared -> 1/5.
    assert s["rouge-2"] == pytest.approx(20.0, abs=1e-3)
    # ROUGE-L: longest common subsequence 患者 注意 休息 = 3 of 6 words.
    assert s["rouge-l"] == pytest.approx(50.0, abs=1e-3)
    # BLEU-4 over characters (12 each, no brevity penalty): clipped n-gram precisions
    # 10/12 (all but 应该/需要), 6/11 (患者 多喝 喝水 注意 意休 休息),
    # 3/10 (多喝水 注意休 意休息), 1/9 (注意休息); geometric mean.
    expected = (10 / 12 * 6 / 11 * 3 / 10 * 1 / 9) ** 0.25
    assert s["bleu-4"] == pytest.approx(100 * expected, abs=1e-3)  # 35.0844


def test_bleu_smoothing_method3_for_missing_ngrams():
    # 天气很好 vs 天气不错: p1 = 2/4, p2 = 1/3, no 3- or 4-gram match. Method 3 replaces the
    # k-th zero precision with 1 / (2^k * number of candidate n-grams): 1/(2*2), 1/(4*1).
    s = similarity("天气很好", "天气不错")
    expected = (2 / 4 * 1 / 3 * 1 / 4 * 1 / 4) ** 0.25
    assert s["bleu-4"] == pytest.approx(100 * expected, abs=1e-3)  # 31.9472


def test_identical_short_text_is_not_a_perfect_bleu():
    # A 3-character answer has no 4-gram: method 3 gives p4 = 1/2, so BLEU = 0.5 ** 0.25.
    s = similarity("多喝水", "多喝水")
    assert s["bleu-4"] == pytest.approx(100 * 0.5 ** 0.25, abs=1e-3)
    assert s["rouge-1"] == pytest.approx(100, abs=1e-3)


def test_empty_prediction_scores_zero_and_mean_averages_samples():
    assert similarity("", LABEL) == {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0, "bleu-4": 0.0}
    avg = mean_similarity([(PRED, LABEL), ("", LABEL)])
    assert avg["rouge-1"] == pytest.approx(100 * 5 / 6 / 2, abs=1e-3)
    assert avg["bleu-4"] == pytest.approx(35.0844 / 2, abs=1e-3)
    assert mean_similarity([]) == {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0, "bleu-4": 0.0}


@pytest.mark.parametrize("answer, letter", [
    ("D", "D"),
    ("答案：B", "B"),
    ("正确答案是（C）。", "C"),
    ("答案为 Ｂ", "B"),
    ("我选A，因为支气管扩张……", "A"),
    ("B. 支气管纤毛柱状上皮的鳞状上皮化生", "B"),
    ("根据题意，D项正确。", "D"),
    ("The answer is c.", "C"),
    ("<think>A 不对，B 也不对</think>故选D", "D"),
    ("分析：A选项错误，B选项错误，C选项错误，所以答案是D", "D"),
    ("支气管壁结构破坏是主要病变基础。", "D"),  # quotes exactly one option's text
    ("A和B都有可能", None),  # ambiguous
    ("我不知道", None),
    ("DNA复制错误", None),
])
def test_extract_choice(answer, letter):
    options = {"A": "支气管壁的黏液腺大量增生", "B": "支气管纤毛柱状上皮的鳞状上皮化生",
               "C": "肺组织纤维化", "D": "支气管壁结构破坏"}
    assert extract_choice(answer, options) == letter


def test_choice_accuracy_counts_unanswered_as_wrong():
    assert choice_accuracy(["A", None, "C", "D"], ["A", "B", "c", "A"]) == 50.0
    assert choice_accuracy([], []) == 0.0


def test_retrieval_metrics():
    ranked = ["劳动法第四十四条", "劳动合同法第三十一条", "劳动合同法第四十七条"]
    gold = {"劳动合同法第四十七条", "劳动合同法第八十七条"}
    assert hit_at_k(ranked, gold, 2) == 0.0
    assert hit_at_k(ranked, gold, 3) == 1.0
    assert recall_at_k(ranked, gold, 3) == 0.5
    assert reciprocal_rank(ranked, gold) == pytest.approx(1 / 3)
    assert reciprocal_rank([], gold) == 0.0
