"""Generation and its checks: prompts, the RAG answer, the raw answer, citation verification.

Retrieval (rag/retrieve.py) and generation are separate steps: the app, the CLI and the
evaluation build messages with `rag_messages` / `raw_messages` and stream them through any
chat client (server/client.py). `verify_citations` then checks every article the answer
cites against the knowledge base, so the UI can show what is grounded and what is not.

Does not: call the retriever (the caller passes citations in), or trust the model's
citations: verification is by lookup, never by asking the model.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from rag.knowledge import KnowledgeBase
from rag.retrieve import resolve_law
from rag.statutes import find_article_mentions
from rag.types import Citation, VerifiedCitation

CONTEXT_CHARS = 3000  # article text per prompt; the embedded model has a 4k-token window
ARTICLE_CHARS = 700  # one long article is cut here so several fit
HISTORY_TURNS = 3  # earlier turns used to rewrite a follow-up question
MAX_REWRITE_CHARS = 200
QUOTE_MIN_CHARS = 8  # a quoted span this long must appear in the cited article
# Low temperature for legal answers (the evaluation's defaults); callers may override.
ANSWER_SAMPLING = {"temperature": 0.1, "top_p": 0.9, "max_tokens": 768}

RAG_SYSTEM_PROMPT = (
    "你是严谨的中国法律助手。只根据下面提供的法条回答用户的问题。\n"
    "要求：\n"
    "1. 引用法条时写成《法律简称》第X条的形式（与下面列出的标题一致）；只能引用下面列出的法条。\n"
    "2. 先找出与问题最相关的法条，据此给出结论；只有当所有法条都与问题无关时，才说明“现有法条不足以回答”。"
    "不要编造法律或条文编号。\n"
    "3. 先给结论，再简要说明理由；用通俗的中文回答。"
)
ABSTAIN_NOTE = (
    "知识库中没有找到与这个问题相关的法条。请明确告诉用户这一点，只给出一般性的建议（例如咨询律师或"
    "相关部门），不要引用任何具体的法律条文编号。"
)
RAW_SYSTEM_PROMPT = "你是中国法律助手。请用中文回答用户的法律问题。"
REWRITE_PROMPT = (
    "下面是用户与法律助手之前的对话，以及用户的新问题。请把新问题改写成一个不依赖上下文、可以单独检索的完整问题。"
    "只输出改写后的问题本身，不要解释。\n\n对话：\n{history}\n\n新问题：{question}\n\n改写后的问题："
)


class ChatStreamer(Protocol):
    """What generation needs from a client: server.client.ChatClient satisfies it."""

    def stream(self, messages: list[dict], **sampling) -> Iterator: ...


def format_articles(citations: list[Citation], budget: int = CONTEXT_CHARS) -> str:
    parts, used = [], 0
    for n, c in enumerate(citations, start=1):
        a = c.article
        text = a.text if len(a.text) <= ARTICLE_CHARS else a.text[:ARTICLE_CHARS] + "……"
        status = f"（{a.status}）" if a.status and a.status not in ("现行有效", "已被修改") else ""
        block = f"[{n}] {c.label}{status}\n{text}"
        if used + len(block) > budget and parts:
            break
        parts.append(block)
        used += len(block)
    return "\n\n".join(parts)


def rag_messages(question: str, citations: list[Citation], abstain: bool = False,
                 budget: int = CONTEXT_CHARS) -> list[dict]:
    if abstain or not citations:
        return [{"role": "system", "content": RAG_SYSTEM_PROMPT + "\n" + ABSTAIN_NOTE},
                {"role": "user", "content": question}]
    context = format_articles(citations, budget)
    return [{"role": "system", "content": f"{RAG_SYSTEM_PROMPT}\n\n法条：\n{context}"},
            {"role": "user", "content": question}]


def raw_messages(question: str) -> list[dict]:
    return [{"role": "system", "content": RAW_SYSTEM_PROMPT}, {"role": "user", "content": question}]


def answer(question: str, citations: list[Citation], llm: ChatStreamer, abstain: bool = False,
           **sampling) -> Iterator:
    """Stream the grounded answer (Delta objects from the client)."""
    return llm.stream(rag_messages(question, citations, abstain), **{**ANSWER_SAMPLING, **sampling})


def raw(question: str, llm: ChatStreamer, **sampling) -> Iterator:
    """Stream what the model says without retrieval."""
    return llm.stream(raw_messages(question), **{**ANSWER_SAMPLING, **sampling})


def rewrite_question(history: list[tuple[str, str]], question: str, llm: ChatStreamer) -> str:
    """A follow-up ("那如果是试用期呢？") rewritten into a standalone query for retrieval.

    history holds (question, answer) pairs. Without history, or when the model's rewrite is
    unusable (empty, too long), the question is returned with the last question prepended,
    which still retrieves the right context.
    """
    if not history:
        return question
    turns = "\n".join(f"用户：{q}\n助手：{a[:200]}" for q, a in history[-HISTORY_TURNS:])
    prompt = REWRITE_PROMPT.format(history=turns, question=question)
    text = "".join(d.text for d in llm.stream([{"role": "user", "content": prompt}],
                                               temperature=0.0, max_tokens=120)
                   if getattr(d, "kind", "answer") == "answer")
    text = text.strip().strip("“”\"'「」").splitlines()[0].strip() if text.strip() else ""
    if not text or len(text) > MAX_REWRITE_CHARS:
        return f"{history[-1][0]} {question}"
    return text


def verify_citations(answer_text: str, kb: KnowledgeBase, retrieved: list[Citation]) -> list[VerifiedCitation]:
    """Check each article the answer cites: ok | not_retrieved | not_in_kb | text_mismatch.

    A mention without a law (第47条, 本法第四十六条) takes the law named last before it in
    the answer, else the only law among the retrieved articles.
    """
    laws = kb.law_names()
    retrieved_ids = {c.article.article_id for c in retrieved}
    retrieved_laws = {c.article.law_short for c in retrieved if c.article.law_short}
    out: list[VerifiedCitation] = []
    seen: set[tuple[str, int, int]] = set()
    context_law = next(iter(retrieved_laws)) if len(retrieved_laws) == 1 else None
    mentions = find_article_mentions(answer_text)
    quoted_texts = [_squash(c.article.text) for c in retrieved]
    for n, m in enumerate(mentions):
        if _inside_quoted_article(answer_text, m.span, quoted_texts):
            continue  # 本法第三十八条 inside a copied article is the statute's own cross-reference
        written = m.law
        law = resolve_law(written, laws) if written else context_law
        if written and law:
            context_law = law
        key = (law or written or "?", m.article_no, m.suffix)
        if key in seen:
            continue
        seen.add(key)
        article = kb.lookup(law, m.article_no, m.suffix) if law else None
        if article is None:
            status = "not_in_kb"
        elif article.article_id not in retrieved_ids:
            status = "not_retrieved"
        elif _misquoted(answer_text[m.span[1]:mentions[n + 1].span[0] if n + 1 < len(mentions) else None],
                        article.text):
            status = "text_mismatch"
        else:
            status = "ok"
        out.append(VerifiedCitation(
            law=law or written or "", article_cn=m.article_cn, article_no=m.article_no, mention=m.raw,
            status=status, article=article, repealed=bool(article and "废止" in article.status)))
    return out


_QUOTE_RE = re.compile(r"[“「\"]([^”」\"]+)[”」\"]")


def _squash(text: str) -> str:
    return re.sub(r"[\s　，。；、,.;：:“”「」\"]", "", text)


def _misquoted(segment: str, article_text: str) -> bool:
    """True when the text after a mention (up to the next mention) quotes words that are not
    in the cited article: a quote of another article under this one's number."""
    article = _squash(article_text)
    return any(len(q) >= QUOTE_MIN_CHARS and _squash(q) not in article for q in _QUOTE_RE.findall(segment))


def _inside_quoted_article(text: str, span: tuple[int, int], article_texts: list[str]) -> bool:
    """True when the line holding the mention is copied from a retrieved article."""
    start = text.rfind("\n", 0, span[0]) + 1
    end = text.find("\n", span[1])
    line = _squash(text[start:end if end >= 0 else None])
    return len(line) >= QUOTE_MIN_CHARS and any(line in article for article in article_texts)
