"""The domain objects shared by loaders, the statute parser, the KB and retrieval.

Plain dataclasses: no LlamaIndex or storage types leak out of rag/ through these.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Page:
    """Text of one page (PDF) or of a whole file (TXT, page=None)."""

    text: str
    page: int | None = None


@dataclass
class LoadedFile:
    """A decoded upload: its pages and how it was read."""

    file_name: str
    pages: list[Page]
    encoding: str  # "utf-8", "gb18030", "utf-16", "pdf"
    content_hash: str  # sha256 of the raw bytes

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.pages)


@dataclass
class Article:
    """One statute article (第X条 with all its 款/项), or one paragraph chunk of a non-statute."""

    text: str
    law_title: str = ""  # 中华人民共和国劳动合同法
    law_short: str = ""  # 劳动合同法
    article_no: int | None = None  # 47; None for paragraph chunks
    article_cn: str = ""  # 第四十七条 / 第十条之一
    article_suffix: int = 0  # 1 for 第十条之一
    chapter: str = ""  # "第四章 劳动合同的解除和终止 / 第一节 ..."
    page: int | None = None  # first PDF page of the article
    status: str = ""  # 现行有效 / 已被修改 / 已废止, when known
    effective_date: str = ""
    file_name: str = ""
    doc_id: str = ""
    kb: str = ""

    @property
    def article_id(self) -> str:
        """Stable human id: 劳动合同法第四十七条; chunks get file#n."""
        if self.article_no is None:
            return f"{self.file_name}#{self.article_cn or '段落'}"
        return f"{self.law_short}{self.article_cn}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Citation:
    """A retrieved article with its score and the retriever(s) that found it."""

    article: Article
    score: float
    retrievers: list[str] = field(default_factory=list)  # "exact", "bm25", "dense", "rerank"

    @property
    def label(self) -> str:
        a = self.article
        if a.article_no is None:
            return f"{a.file_name} {a.article_cn}".strip()
        return f"《{a.law_short or a.law_title}》{a.article_cn}"


@dataclass
class VerifiedCitation:
    """An article an answer cites, checked against the knowledge base."""

    law: str  # as resolved (short name)
    article_cn: str
    article_no: int
    mention: str  # the text in the answer, e.g. 《劳动合同法》第四十七条
    status: str  # ok | not_in_kb | not_retrieved | text_mismatch
    article: Article | None = None  # the KB article when found
    repealed: bool = False
