"""How well the articles an answer relies on match the question: their place among the retrieved ones.

The attribution check (attribution.py) says whether an answer's words come from the articles; it
cannot say whether those articles fit the question. An answer can quote 第八十二条 (no written
contract) word for word to someone asking about overtime pay. `reliance(verified, citations)`
looks at each article the answer cites (verify.py's VerifiedCitation) and where retrieval put it
for this question: its rank among the retrieved articles and its score as a share of the best
one. An article ranked within STRONG_RANK whose score is at least STRONG_SHARE of the best
matches the question well; an article ranked lower, scoring less, or not retrieved at all
matches it weakly. `Reliance.weak` is True when every article the answer cites matches weakly:
the page then shows a warning.

Thresholds were picked on STARD train questions (bench/relevance.py, docs/attribution.md), never
on the labour dev file.

Does not: judge whether an article governs the case (retrieval's rank is a proxy), look at the
articles the answer does not cite, or call a model.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.types import Citation, VerifiedCitation

STRONG_RANK = 5  # (bench/relevance.py --split train --grid) cited articles ranked below this match the question weakly
STRONG_SHARE = 0.9  # … and so do those scoring under this share of the best retrieved score
EXACT = "exact"  # an article the question named outright always matches it
WEAK_WARNING = ("回答所依据的法条与问题的匹配度都较低（{where}）：这些法条可能不适用于您的情况，"
                "请对照检索排名靠前的法条核实。")


@dataclass
class ArticleMatch:
    """One article the answer cites, and how well retrieval matched it to the question."""

    mention: str  # as the answer wrote it: 《劳动合同法》第八十二条
    rank: int | None  # 1-based place among the retrieved articles; None: not retrieved
    share: float | None  # its score / the best retrieved score; None when scores do not compare
    strong: bool

    @property
    def label(self) -> str:
        """"检索第 1 位" / "检索第 6 位，匹配度低" / "不在检索结果中"."""
        if not self.rank:
            return "不在检索结果中"
        return f"检索第 {self.rank} 位" + ("" if self.strong else "，匹配度低")


@dataclass
class Reliance:
    articles: list[ArticleMatch]
    retrieved: int = 0  # how many articles were retrieved

    @property
    def weak(self) -> bool:
        """The answer cites articles, and none of them matches the question well."""
        return bool(self.articles) and not any(a.strong for a in self.articles)

    def warning(self) -> str:
        """The warning shown when `weak`, naming where each cited article stands; else ""."""
        if not self.weak:
            return ""
        where = "，".join(f"{a.mention}：{a.label}" for a in self.articles)
        return WEAK_WARNING.format(where=f"{where}；共检索到 {self.retrieved} 条")


def reliance(verified: Sequence[VerifiedCitation], citations: Sequence[Citation]) -> Reliance:
    """Each article the answer cites (not the invented ones: not_in_kb), with its rank and score
    share among the retrieved `citations`; repeated mentions of one article count once."""
    ranks = {c.article.article_id: n for n, c in enumerate(citations, 1)}
    best = max((c.score for c in citations if EXACT not in c.retrievers), default=0.0)
    out: list[ArticleMatch] = []
    seen: set[str] = set()
    for v in verified:
        if v.article is None or v.article.article_id in seen:
            continue
        seen.add(v.article.article_id)
        rank = ranks.get(v.article.article_id)
        c = citations[rank - 1] if rank else None
        if c is not None and EXACT in c.retrievers:
            out.append(ArticleMatch(v.mention, rank, None, True))
            continue
        share = c.score / best if c is not None and best > 0 and c.score >= 0 else None
        strong = rank is not None and rank <= STRONG_RANK and (share is None or share >= STRONG_SHARE)
        out.append(ArticleMatch(v.mention, rank, share, strong))
    return Reliance(out, len(citations))
