"""Each claim of an answer traced to the words of a retrieved article that support it, and
every figure and modal word of the claim checked against that article.

`attribute(answer, citations)` splits the answer into claims (rag/answer/claims.py), cuts each
retrieved article into its 款 and 项 (a 项 is read with the 款 that leads into it: "有下列情形
之一的，用人单位应当……"), and scores every claim against every span by weighted word recall:
the claim's jieba words (rag/text.py's LegalTokenizer, with colloquial words also matched by
their statute terms: 加班 → 延长工作时间) that the span contains, weighted by jieba's IDF.
Figures are masked while scoring, so "2 倍" does not pull a claim towards the 项 that says
百分之二百. A claim that names a retrieved article (第四十四条) leans towards it. With an
embedder the score also takes the cosine of claim and span (SCORE_DENSE_WEIGHT); span vectors
are cached by text, so the raw column's check reuses the RAG column's.

Labels: supported (score ≥ SUPPORTED), partly supported (≥ PARTLY), no basis found. On the spans
the claim echoes (rag/answer/mismatch.py does the comparing), each figure of the claim must equal a figure of the same
kind there, and a modal word (应当/不得, 可以/不可以, 有权/无权) before the same verb must
have the same polarity; otherwise the claim gets a flag naming both ("回答写 2 倍；第四十四条
为 150%").

Does not: call a model (an entailment check by the served model is `entail`, off unless
the caller passes one), or judge figures the article does not state (the user's own facts,
amounts computed from a rate: "每满一年支付一个月工资" with "三年四个月").
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from rag.answer import mismatch
from rag.answer.claims import GENERIC, STATUTE_TERMS, Claim, split_claims, word_cutter
from rag.text import STOPWORDS
from rag.answer.mismatch import Flag, mask_figures, negation_flags, number_flags, squash, unmentioned
from rag.documents.statutes import find_article_mentions
from rag.types import Citation

# Thresholds, tuned on STARD train rows (bench/attribution.py --split train); see docs/attribution.md.
SUPPORTED = 0.55  # score of the best span for "supported"
PARTLY = 0.35  # … for "partly supported"; below: no basis found
MENTION_BONUS = 0.15  # the claim names this article (第四十四条)
NEAR_BEST = 0.9  # spans within this share of the best score are shown as sources too
CHECK_SHARE = 0.75  # spans within this share of the best score are checked for figures and modal words
MAX_SOURCES = 2
SCORE_DENSE_WEIGHT = 0.0  # share of the embedder's cosine in the score (0: lexical only)
DENSE_FLOOR, DENSE_CEIL = 0.75, 0.95  # e5 cosines map to 0..1 between these
PART_CREDIT = 0.5
SHORT_TOKEN_WEIGHT = 0.3  # one-character words count this share of their IDF
MAX_IDF = 12.0
# What the summary line measured, in its own words: the words come from the articles; whether the
# articles fit the case is not checked here (rag/answer/relevance.py gives a signal for that).
SCOPE_NOTE = "（只核对字句是否出自检索到的法条，不判断这些法条是否适用于您的情况）"
NONE_REASON = "法条中找不到这个说法"
PARTIAL_REASON = "法条中只找到这句话的一部分"
FLAG_FLOOR = 0.1  # (train grid 0.0–0.3, docs/attribution.md) spans scoring this much are checked for figures and modal words, even under a weak best
NUMBER_SHARE = 0.5  # (train grid 0.3–0.75) figures are checked on spans within this share of the best (and ≥ FLAG_FLOOR)
_ITEM_RE = re.compile(r"^[（(][一二三四五六七八九十\d]+[)）]")
_vectors: dict[str, np.ndarray] = {}  # span text → unit vector (the embedder is fixed per process)


@dataclass
class Source:
    """The span of a retrieved article that supports a claim."""

    citation: int  # 1-based place in the retrieved list (the [n] of the prompt and the UI)
    label: str  # 《劳动法》第四十四条
    article_cn: str
    span: str  # the 款 or 项 text
    words: list[str]  # the claim's words found in it (highlighted in the UI)
    score: float


@dataclass
class ClaimCheck:
    text: str
    start: int
    end: int
    section: str = ""
    advice: bool = False
    status: str = "skip"  # supported | partial | none | skip (greetings, headings)
    score: float = 0.0
    sources: list[Source] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """Why the claim is marked, in a few words of Chinese (empty when supported and clean)."""
        if self.flags:
            return "；".join(f.message for f in self.flags)
        if self.status == "none":
            return "建议，未对应具体法条" if self.advice else NONE_REASON
        if self.status == "partial":
            return PARTIAL_REASON
        return ""


@dataclass
class Attribution:
    claims: list[ClaimCheck]
    ms: float = 0.0

    @property
    def checked(self) -> list[ClaimCheck]:
        """The claims counted in the summary: checkable, and not advice that found no article."""
        return [c for c in self.claims if c.status != "skip" and not (c.advice and c.status == "none")]

    def counts(self) -> dict:
        checked = self.checked
        return {"claims": len(checked), "supported": sum(c.status == "supported" for c in checked),
                "partial": sum(c.status == "partial" for c in checked), "none": sum(c.status == "none" for c in checked),
                "number_mismatches": sum(f.kind == "number" for c in checked for f in c.flags),
                "negation_flips": sum(f.kind == "negation" for c in checked for f in c.flags)}

    def summary(self) -> str:
        """"8 句中 6 句的说法在法条原文中找得到，1 句只找到一部分，1 处数字与法条不符（只核对…）":
        what was measured is whether the words come from the retrieved articles, not whether those
        articles fit the case (SCOPE_NOTE says so in the line itself)."""
        n = self.counts()
        if not n["claims"]:
            return "回答中没有可核对的句子"
        # a sentence whose figure or negation contradicts its article is not counted as found
        clean = {s: sum(c.status == s and not c.flags for c in self.checked) for s in ("supported", "partial")}
        parts = [f"{n['claims']} 句中 {clean['supported']} 句的说法在法条原文中找得到"]
        if clean["partial"]:
            parts.append(f"{clean['partial']} 句只找到一部分")
        if n["none"]:
            parts.append(f"{n['none']} 句在法条中找不到")
        if n["number_mismatches"]:
            parts.append(f"{n['number_mismatches']} 处数字与法条不符")
        if n["negation_flips"]:
            parts.append(f"{n['negation_flips']} 处肯定/否定与法条相反")
        return "，".join(parts) + SCOPE_NOTE

    def marked(self, answer: str) -> str:
        """The answer (the text these claims came from) with source marks after each claim:
        "[1][2]" for its supporting articles, "⚠️（reason）" for no basis or a mismatch."""
        out, pos = [], 0
        for c in self.claims:
            if c.status == "skip" or (c.advice and c.status == "none"):
                continue
            marks = "".join(f"[{s.citation}]" for s in c.sources)
            if c.flags or c.status == "none":
                marks += f" ⚠️（{c.reason}）"
            out += [answer[pos:c.end], marks]
            pos = c.end
        return "".join(out) + answer[pos:]

    def to_dict(self) -> dict:
        """summary, counts (Attribution.counts: "claims" there is the number checked), ms, and
        every claim with its sources and flags (from_dict reads it back)."""
        return {"summary": self.summary(), "counts": self.counts(), "ms": round(self.ms, 1),
                "claims": [asdict(c) for c in self.claims]}

    @classmethod
    def from_dict(cls, data: dict) -> "Attribution":
        claims = [ClaimCheck(**{**c, "sources": [Source(**s) for s in c["sources"]],
                                "flags": [Flag(**f) for f in c["flags"]]}) for c in data.get("claims", [])]
        return cls(claims, data.get("ms", 0.0))


@dataclass
class _Span:
    citation: int
    label: str
    article_cn: str
    law: str
    article_no: int | None
    text: str  # shown and highlighted
    scored: str  # text scored: a 项 with the 款 that leads into it


Entail = Callable[[str, str], bool]  # (claim, span) → does the span entail the claim?


def attribute(answer: str, citations: Sequence[Citation], embedder=None, entail: Entail | None = None) -> Attribution:
    """Every claim of `answer` checked against the retrieved `citations` (see the module doc).

    embedder: a llama_index embedding (the KB's) to add dense similarity, or None (lexical).
    entail: a model check, asked only for partly supported claims; True makes them supported."""
    t0 = time.perf_counter()
    claims = split_claims(answer)
    spans = [s for n, c in enumerate(citations, 1) for s in article_spans(c, n)]
    checkable = [c for c in claims if c.checkable]
    scores = _scores(checkable, spans, citations, embedder) if spans and checkable else None
    out, row = [], 0
    for claim in claims:
        check = ClaimCheck(claim.text, claim.start, claim.end, claim.section, claim.advice)
        if claim.checkable and scores is not None:
            _label(check, scores[row], spans, entail)
            row += 1
        elif claim.checkable:
            check.status = "none"
        out.append(check)
    return Attribution(out, (time.perf_counter() - t0) * 1000)


def article_spans(c: Citation, n: int) -> list[_Span]:
    """The 款 and 项 of a retrieved article (a 项 scored with its lead-in 款)."""
    out, lead = [], ""
    paragraphs = [p.strip() for p in c.article.text.split("\n") if p.strip()]
    for p in paragraphs:
        if _ITEM_RE.match(p):
            out.append(_Span(n, c.label, c.article.article_cn or c.label, c.article.law_short, c.article.article_no,
                             p, f"{lead}{p}"))
        else:
            lead = p if p.endswith(("：", ":")) else ""
            out.append(_Span(n, c.label, c.article.article_cn or c.label, c.article.law_short, c.article.article_no,
                             p, p))
    return out


def _scores(claims: list[Claim], spans: list[_Span], citations: Sequence[Citation], embedder) -> np.ndarray:
    """claims × spans support scores in 0..1 (+ MENTION_BONUS)."""
    span_texts = [squash(mask_figures(s.scored)) for s in spans]
    lex = np.zeros((len(claims), len(spans)))
    for i, claim in enumerate(claims):
        words = _claim_words(claim.text)
        total = sum(w for _, w, _ in words) or 1.0
        for j, text in enumerate(span_texts):
            lex[i, j] = sum(w * _covered(alts, text) for _, w, alts in words) / total
    score = lex
    if embedder is not None and SCORE_DENSE_WEIGHT > 0:
        dense = np.clip((_cosines(claims, spans, embedder) - DENSE_FLOOR) / (DENSE_CEIL - DENSE_FLOOR), 0, 1)
        score = (1 - SCORE_DENSE_WEIGHT) * lex + SCORE_DENSE_WEIGHT * dense
    for i, claim in enumerate(claims):
        named = {m.article_no for m in find_article_mentions(claim.text)}
        for j, s in enumerate(spans):
            if citations[s.citation - 1].article.article_no in named:
                score[i, j] += MENTION_BONUS
    return score


def _label(check: ClaimCheck, row: np.ndarray, spans: list[_Span], entail: Entail | None) -> None:
    best = int(np.argmax(row))
    check.score = round(float(row[best]), 3)
    status = "supported" if row[best] >= SUPPORTED else "partial" if row[best] >= PARTLY else "none"
    if status == "partial" and entail is not None and entail(check.text, spans[best].text):
        status = "supported"
    check.status = status
    order = [int(j) for j in np.argsort(-row, kind="stable")]
    if status == "none":
        if mismatch.ALIGNED_CHECK:  # no basis found, but a figure or modal word may still contradict a span it echoes
            check.flags = _flags(check.text, row, order, spans)
        return
    seen: set[int] = set()
    words = _claim_words(check.text)
    for j in order:
        s = spans[j]
        if row[j] < max(PARTLY, NEAR_BEST * row[best]) or len(seen) >= MAX_SOURCES:
            break
        if s.citation in seen:
            continue
        seen.add(s.citation)
        found = {a for _, _, alts in words for a in alts if len(a) >= 2 and a in s.text}
        found = sorted((w for w in found if not any(w != o and w in o for o in found)), key=len, reverse=True)
        check.sources.append(Source(s.citation, s.label, s.article_cn, s.text, found, round(float(row[j]), 3)))
    check.flags = _flags(check.text, row, order, spans)


def _flags(claim: str, row: np.ndarray, order: list[int], spans: list[_Span]) -> list[Flag]:
    """Number and negation flags of a claim against its relevant spans: those within
    CHECK_SHARE of the best (or above FLAG_FLOOR), or only the article the claim names (and,
    with ALIGNED_CHECK, the articles citing it): none when none of those was retrieved."""
    best = row[order[0]]
    floor = max(PARTLY, CHECK_SHARE * best)
    if mismatch.ALIGNED_CHECK:  # figures are checked on every span the claim echoes, as modal words are
        floor = max(FLAG_FLOOR, NUMBER_SHARE * best)
    relevant = [j for j in order if row[j] >= floor]
    named = _named_articles(claim)
    if named and mismatch.ALIGNED_CHECK:
        # a claim about 第四十四条 is checked against 第四十四条 and the articles that cite it
        # (依据本法第五百一十条…); when none of them was retrieved, its figures and modal words are
        # not checked: another article's 百分之五十 says nothing about what 第四十四条 states
        relevant = [j for j in order if _names(spans[j], named)]
    elif named:  # the earlier check: 第四十四条 only, or not at all
        relevant = [j for j in order if (spans[j].law, spans[j].article_no) in named
                    or (None, spans[j].article_no) in named]
    if mismatch.ALIGNED_CHECK:  # modal words are aligned to the article's, so every span above the floor may speak
        negation_spans = [j for j in (relevant if named else order) if named or row[j] >= FLAG_FLOOR]
    else:
        negation_spans = [j for j in relevant if row[j] >= NEAR_BEST * best or named]
    return number_flags(claim, [spans[j] for j in relevant], [float(row[j]) for j in relevant]) + \
        negation_flags(claim, [spans[j] for j in negation_spans], [float(row[j]) for j in negation_spans])


def _named_articles(claim: str) -> set[tuple[str | None, int]]:
    """(law or None, article number) of each article the claim names; 本法第X条 → (None, X)."""
    out = set()
    for m in find_article_mentions(claim):
        out.add((m.law, m.article_no))
        out.add((None, m.article_no))
    return out


def _names(span: _Span, named: set[tuple[str | None, int]]) -> bool:
    """The span is one of the named articles, or cites one (依据本法第五百一十条的规定)."""
    if (span.law, span.article_no) in named or (None, span.article_no) in named:
        return True
    return any((None, m.article_no) in named for m in find_article_mentions(span.scored))


def _claim_words(text: str) -> list[tuple[str, float, tuple[str, ...]]]:
    """(word, weight, the forms it may take in a statute) for each content word of a claim:
    whole words (jieba's accurate mode), a long word's own parts as weaker forms."""
    from jieba.analyse import default_tfidf

    idf, median = default_tfidf.idf_freq, default_tfidf.median_idf
    out, seen = [], set()
    for word in word_cutter().cut(mask_figures(unmentioned(text)).lower()):
        word = word.strip()
        if word in seen or word in GENERIC or word in STOPWORDS or not re.search(r"[\u4e00-\u9fff]", word):
            continue
        seen.add(word)
        weight = min(MAX_IDF, idf.get(word, median)) * (SHORT_TOKEN_WEIGHT if len(word) == 1 else 1.0)
        out.append((word, weight, (word, *STATUTE_TERMS.get(word, ()))))
    return out


def _covered(alts: tuple[str, ...], text: str) -> float:
    """1 when the span holds the word (or a statute form of it); PART_CREDIT when it holds a
    two-character part of a longer word (劳动报酬 for 报酬); else 0."""
    if any(a in text for a in alts):
        return 1.0
    word = alts[0]
    if len(word) >= 3 and any(word[i:i + 2] in text for i in range(len(word) - 1)):
        return PART_CREDIT
    return 0.0


def _cosines(claims: list[Claim], spans: list[_Span], embedder) -> np.ndarray:
    missing = [s.scored for s in spans if s.scored not in _vectors]
    if missing:
        for text, vec in zip(missing, embedder.get_text_embedding_batch(missing)):
            _vectors[text] = _unit(vec)
    span_m = np.stack([_vectors[s.scored] for s in spans])
    claim_m = np.stack([_unit(v) for v in embedder.get_text_embedding_batch([c.text for c in claims])])
    return claim_m @ span_m.T


def _unit(vec) -> np.ndarray:
    v = np.asarray(vec, dtype=np.float32)
    return v / (np.linalg.norm(v) or 1.0)
