"""One chat turn as data, its Markdown export, and demo feedback stored as JSONL.

The app keeps a list of Turn in its session; the export and the feedback file are built
from the same objects, so what a reviewer downloads is what the user saw.

`check_answers(turn, embedder)` runs the attribution check (rag/answer/attribution.py) on both
answers of a turn against the turn's retrieved articles, once the answers are complete: the
raw model's answer is checked against the same articles, so the two summaries compare.
`check_answer` is that check for one answer; the blind review (rag/review/sets.py) and the answer
benchmark (rag/eval/answers.py) call it too.

Does not: store conversations server-side (only feedback is written, on request).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field

from rag.answer.verify import is_refusal, needs_basis
from rag.answer.attribution import Attribution, attribute
from rag.answer.conclusion import restates_question
from rag.answer.relevance import Reliance, reliance
from rag.types import Citation, VerifiedCitation

STATUS_TEXT = {
    "ok": "✅ 已核验（在检索到的法条中）",
    "not_retrieved": "⚠️ 知识库中有此条，但不在本次检索结果中",
    "not_in_kb": "❌ 知识库中不存在此条",
    "text_mismatch": "❌ 引用的文字与条文不符",
}
RESTATED_NOTE = "⚠️ 这个回答的结论只是复述了问题，没有给出判断：请以下面的依据和法条原文为准。"
BASIS_ARTICLES = 3  # articles shown as the basis when the answer cites none verified
BASIS_NOTE = ("模型的回答没有引用可核验的法条（或未能作答）。以下是检索到的最相关法条，"
              "请直接阅读作为依据：")


@dataclass
class Reply:
    answer: str = ""
    reasoning: str = ""
    error: str = ""
    note: str = ""  # e.g. articles left out to fit the server's request limit
    attribution: Attribution | None = None  # set by check_answers once the answer is complete
    first_token_s: float | None = None  # seconds from the request to the first answer token
    total_s: float = 0.0
    failure: Exception | None = field(default=None, repr=False, compare=False)  # what ended the stream, if anything
    restated: bool = False  # its conclusion only repeats the question (rag/answer/conclusion.py)
    relevance: Reliance | None = None  # RAG answer: how well the articles it cites match the question (check_answers)


@dataclass
class Turn:
    question: str
    query: str = ""  # the standalone query used for retrieval (rewritten follow-ups)
    rag: Reply = field(default_factory=Reply)
    raw: Reply | None = None  # set when RAG vs raw was on
    citations: list[Citation] = field(default_factory=list)
    verified: list[VerifiedCitation] = field(default_factory=list)
    abstain: bool = False
    judge: list[dict] | None = None  # 评审对比 table rows (维度 / RAG / raw), when asked for
    judge_note: str = ""  # the judge's reasons
    kb: str = ""
    endpoint: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # rewrite, retrieve (answers: in each Reply)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    asked_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))


ATTRIBUTION_LABEL = "法条核对"
RAW_ATTRIBUTION_NOTE = "原始模型没有看到这些法条，按同一批检索到的法条核对"


def check_answers(turn: Turn, embedder=None) -> None:
    """Attribution of the RAG answer and the raw one (when there is one) against the turn's
    retrieved articles, and whether each conclusion only restates the question. Attribution is
    left unset for an empty answer, a refusal, or when retrieval abstained (the articles found
    are not about the question, so nothing is checked against them)."""
    for reply in (turn.rag, turn.raw):
        if reply is not None:
            reply.attribution = check_answer(reply.answer, turn.citations, turn.abstain, embedder)
            reply.restated = bool(reply.answer) and restates_question(reply.answer, turn.question)
    # the RAG answer's verified citations (turn.verified) against where retrieval ranked them
    turn.rag.relevance = reliance(turn.verified, turn.citations) if turn.rag.attribution else None


def check_answer(answer: str, citations: list[Citation], abstain: bool = False, embedder=None) -> Attribution | None:
    """One answer's attribution against the retrieved `citations` (the chat, the blind review
    and bench/answers.py all check through here), or None for an empty answer, a refusal,
    no articles, or when retrieval abstained."""
    if not citations or abstain or is_refusal(answer):
        return None
    return attribute(answer, citations, embedder)


def attribution_line(reply: Reply | None) -> str:
    """"法条核对：8 句中 6 句的说法在法条原文中找得到，1 处数字与法条不符（只核对…）", or "" when the
    reply was not checked."""
    return f"{ATTRIBUTION_LABEL}：{reply.attribution.summary()}" if reply and reply.attribution else ""


def _answer_lines(reply: Reply, raw: bool = False) -> list[str]:
    """The export of one answer: its summary line, then the answer with [n] and ⚠️ marks."""
    if not reply.answer:
        return ["（无回答）"]
    restated = [f"> {RESTATED_NOTE}", ""] if reply.restated else []
    if not reply.attribution:
        return [*restated, reply.answer]
    note = f"（{RAW_ATTRIBUTION_NOTE}）" if raw else ""
    weak = [f"> ⚠️ {reply.relevance.warning()}"] if reply.relevance and reply.relevance.weak else []
    return [*restated, f"> {attribution_line(reply)}{note}", *weak, "", reply.attribution.marked(reply.answer)]


def to_markdown(turns: list[Turn]) -> str:
    """A report of the conversation: questions, both answers, citations and their checks."""
    lines = ["# 法律助手对话记录", ""]
    for n, t in enumerate(turns, start=1):
        lines += [f"## {n}. {t.question}", "", f"- 时间：{t.asked_at}　知识库：{t.kb}　模型：{t.endpoint}"]
        if t.query and t.query != t.question:
            lines.append(f"- 检索用的问题（改写）：{t.query}")
        lines += ["", "### 检索增强回答（RAG）", "", *([f"> {t.rag.note}", ""] if t.rag.note else []),
                  *_answer_lines(t.rag)]
        if t.abstain:
            lines += ["", "> 知识库中没有找到相关法条，回答仅供参考。"]
        if t.rag.error:
            lines += ["", f"> 错误：{t.rag.error}"]
        if t.rag.answer and needs_basis(t.rag.answer, t.verified, t.citations, t.abstain):
            lines += ["", f"> {BASIS_NOTE}"]
            lines += [f"> - **{c.label}**：{c.article.text}" for c in t.citations[:BASIS_ARTICLES]]
        if t.raw is not None:
            lines += ["", "### 原始模型回答（无检索）", "", *_answer_lines(t.raw, raw=True)]
            if t.raw.error:
                lines += ["", f"> 错误：{t.raw.error}"]
        if t.judge:
            lines += ["", "### 评审对比（LLM 评审，两种顺序取平均）", "", judge_markdown(t.judge)]
            if t.judge_note:
                lines += ["", f"> {t.judge_note}"]
        if t.verified:
            lines += ["", "### 回答中的引用核验", ""]
            for v in t.verified:
                repealed = "（该法已废止）" if v.repealed else ""
                lines.append(f"- {v.mention}：{STATUS_TEXT[v.status]}{repealed}")
        if t.citations:
            lines += ["", "### 检索到的法条", ""]
            for n, c in enumerate(t.citations, 1):
                a = c.article
                lines.append(f"- [{n}] **{c.label}**（{a.chapter or '—'}；{a.status or '状态未知'}）：{a.text}")
        lines.append("")
    return "\n".join(lines)


def judge_markdown(rows: list[dict]) -> str:
    """The 评审对比 rows as a Markdown table (the page and the export show the same one)."""
    cols = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(str(row[c]) for c in cols) + " |" for row in rows])


def record_feedback(log, turn: Turn, rating: str, note: str = "") -> dict:
    """Append one feedback entry (👍/👎 and a note) for a turn to a RecordLog (the store's
    `feedback` log: data_dir/feedback.jsonl, or a table in PostgreSQL)."""
    entry = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "turn_id": turn.id, "rating": rating, "note": note,
             "question": turn.question, "query": turn.query, "kb": turn.kb, "endpoint": turn.endpoint,
             "answer": turn.rag.answer, "raw_answer": turn.raw.answer if turn.raw else None,
             "citations": [c.label for c in turn.citations],
             "verified": [asdict(v) | {"article": None} for v in turn.verified],
             "attribution": {"rag": attribution_line(turn.rag), "raw": attribution_line(turn.raw)}}
    log.append(entry)
    return entry
