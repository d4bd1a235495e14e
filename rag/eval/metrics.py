"""Scores for model output: BLEU-4 / ROUGE as LLaMA-Factory computes them for Chinese,
multiple-choice accuracy, and retrieval Hit@k / Recall@k / MRR.

The text metrics follow LLaMA-Factory's `ComputeSimilarity`
(src/llamafactory/train/sft/metric.py) so numbers compare with its
`predict_results.json`: ROUGE-1/2/L F-scores from rouge_chinese over jieba words,
BLEU-4 from nltk's `sentence_bleu` over *characters* with `SmoothingFunction().method3`,
each ×100 and rounded to 4 places per sample, then averaged.

Does not run models or read files; see rag/eval/evaluate.py for that.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from statistics import fmean, quantiles

import jieba
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge

jieba.setLogLevel(logging.CRITICAL)

SIMILARITY_KEYS = ("rouge-1", "rouge-2", "rouge-l", "bleu-4")
CHOICE_LETTERS = "ABCD"

_SMOOTHING = SmoothingFunction().method3
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)


def similarity(predict: str, label: str) -> dict[str, float]:
    """ROUGE-1/2/L F and BLEU-4 (×100, 4 decimals) of one prediction against its label."""
    hypothesis = list(jieba.cut(predict))
    reference = list(jieba.cut(label))
    if not " ".join(hypothesis).split() or not " ".join(reference).split():
        scores = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    else:
        result = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
        scores = {k: round(v["f"] * 100, 4) for k, v in result.items()}
    bleu = sentence_bleu([list(label)], list(predict), smoothing_function=_SMOOTHING)
    scores["bleu-4"] = round(bleu * 100, 4)
    return scores


def mean_similarity(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Average of `similarity` over (predict, label) pairs; zeros for no pairs."""
    per_sample = [similarity(p, l) for p, l in pairs]
    if not per_sample:
        return {k: 0.0 for k in SIMILARITY_KEYS}
    return {k: round(fmean(s[k] for s in per_sample), 4) for k in SIMILARITY_KEYS}


# The answer letter, most explicit patterns first. Full-width letters are folded to ASCII
# before matching; (?<![A-Za-z]) / (?![A-Za-z]) keep words such as "DNA" from matching.
_CHOICE_PATTERNS = [
    r"(?:答案|正确答案|正确选项|最佳答案|应选|故选|本题选|(?i:the answer is|answer:))\s*"
    r"(?:是|为|应该是|应为|选|：|:)?\s*[（(\[【]?\s*([A-Da-d])(?![A-Za-z])",
    r"(?:选项|选择|选)\s*[（(\[【]?\s*([A-D])(?![A-Za-z])",
    r"\A\s*[（(\[【]?([A-D])[)）\]】]?\s*(?:[.、．:：,，。]|\Z|\s)",
    r"(?<![A-Za-z])([A-D])\s*(?:项|选项)?\s*(?:是|为)?\s*(?:正确|对的|最合适|最佳|符合)",
]
_BARE_LETTER = re.compile(r"(?<![A-Za-z])([A-D])(?![A-Za-z])")
_FULLWIDTH = str.maketrans("ＡＢＣＤ", "ABCD")


def extract_choice(answer: str, options: dict[str, str] | None = None) -> str | None:
    """The option letter (A–D) an answer picks, or None when it names none or is ambiguous.

    Reasoning inside <think>…</think> is ignored. Explicit phrasings (答案：B, 选C, "B."
    at the start, "D项正确") win; then an answer that quotes exactly one option's text;
    then a lone letter, only if it is the one letter the answer mentions.
    """
    text = _THINK.sub("", answer or "").translate(_FULLWIDTH).strip()
    for pattern in _CHOICE_PATTERNS:
        m = re.search(pattern, text)
        if m:
            return m.group(1).upper()
    if options:
        quoted = [k for k, v in options.items() if v and str(v) in text]
        if len(quoted) == 1:
            return quoted[0]
    letters = set(_BARE_LETTER.findall(text))
    return letters.pop() if len(letters) == 1 else None


def choice_accuracy(predicted: Sequence[str | None], gold: Sequence[str]) -> float:
    """Share of questions (×100) whose extracted letter equals the gold letter."""
    if not gold:
        return 0.0
    hits = sum(1 for p, g in zip(predicted, gold) if p is not None and p == g.strip().upper())
    return round(100 * hits / len(gold), 4)


# Retrieval: `ranked` is the ids a retriever returned in order, `relevant` the gold ids.

def hit_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """1.0 when any gold id is among the first k results."""
    gold = set(relevant)
    return float(any(r in gold for r in ranked[:k]))


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of gold ids found among the first k results."""
    gold = set(relevant)
    if not gold:
        return 0.0
    return len(gold.intersection(ranked[:k])) / len(gold)


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str]) -> float:
    """1/rank of the first gold id (0 when none is retrieved); average it for MRR."""
    gold = set(relevant)
    for i, r in enumerate(ranked, start=1):
        if r in gold:
            return 1.0 / i
    return 0.0


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0 < p < 100) of the values, interpolated between order statistics
    (statistics.quantiles, "inclusive"); the value itself for one value, nan for none. The
    benchmarks' p50/p95 all come from here."""
    values = list(values)
    if len(values) < 2:
        return float(values[0]) if values else float("nan")
    cuts = quantiles(values, n=1000, method="inclusive")  # 999 cut points: p to 0.1
    return cuts[min(len(cuts) - 1, max(0, round(p * 10) - 1))]
