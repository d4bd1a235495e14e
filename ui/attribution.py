"""HTML for the chat's attribution marks (rag/answer/attribution.py): an answer with a source mark
after each sentence and its flags in view, and an article with the supporting words marked.

Plain functions returning the Markdown-with-inline-HTML that ui/legal.py hands to
st.markdown(..., unsafe_allow_html=True). The answer's own text is escaped (a model cannot
inject markup); each checked sentence is wrapped whole in one <span>, so the sentence stays
one piece of text on the page (a browser test can still find it exactly), and the marks
follow it as separate elements.

Does not: call streamlit, or compute attribution (the core does; this only draws it).
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable

from rag.answer.attribution import Attribution, ClaimCheck, Source

# Colours readable on Streamlit's light and dark themes (translucent backgrounds).
MARK_STYLE = "color:#1c64f2;font-weight:600;cursor:help"
NONE_STYLE = "background:rgba(250,204,21,.28);border-radius:3px"
FLAG_STYLE = "background:rgba(248,113,113,.25);border-radius:3px"
FLAG_WORD_STYLE = "color:#dc2626;font-weight:700;text-decoration:underline wavy #dc2626"
PARTIAL_STYLE = "border-bottom:1px dashed #9ca3af"
REASON_FLAG_STYLE = "color:#dc2626;font-size:.85em"
REASON_NONE_STYLE = "color:#b45309;font-size:.85em"
WORD_STYLE = "background:rgba(250,204,21,.45);padding:0 1px;border-radius:2px"
TIP_CHARS = 80  # characters of the supporting span in a mark's hover text
OPENING_CHARS = 14  # characters of a sentence named under the article it relies on


def hard_breaks(markdown: str) -> str:
    """Each single line break kept as a line break: the answer prompt asks for 结论/依据/建议 on
    lines of their own, which Markdown would otherwise run together into one paragraph. Blank
    lines (paragraphs) are left as they are."""
    return re.sub(r"(?<![\n ])\n(?!\n)", "  \n", markdown)


def _esc(text: str) -> str:
    """Escape what could open a tag; Markdown (**, lists, >) keeps working."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def shown(check: ClaimCheck) -> bool:
    """Claims that get marks: the counted ones (not greetings, headings, or advice without an article)."""
    return check.status != "skip" and not (check.advice and check.status == "none")


def _source_mark(s: Source) -> str:
    span = " ".join(s.span.split())  # one line: a line break inside the attribute would meet hard_breaks
    span = span if len(span) <= TIP_CHARS else span[:TIP_CHARS] + "…"
    return f'<sup style="{MARK_STYLE}" title="{_attr(f"[{s.citation}] {s.label}：{span}")}">[{s.citation}]</sup>'


def _claim_html(answer: str, c: ClaimCheck) -> str:
    """The claim's text escaped, the figures and modal words of its flags marked in red."""
    text = answer[c.start:c.end]
    if not c.flags:
        return _esc(text)
    marked = [False] * len(text)
    for f in c.flags:
        word = f.answer_text or f.answer
        at = text.find(word) if word else -1
        if at >= 0:
            marked[at:at + len(word)] = [True] * len(word)
    return "".join(f'<span style="{FLAG_WORD_STYLE}">{_esc(run)}</span>' if on else _esc(run)
                   for run, on in _runs(text, marked))


def marked_html(answer: str, attribution: Attribution) -> str:
    """The answer with marks: [n] after each sentence for its supporting articles (hover: the
    article and its supporting 款), sentences with no basis on yellow with "⚠️ reason", sentences
    whose figure or modal word contradicts the article on red with "❌ reason"."""
    out, pos = [], 0
    for c in attribution.claims:
        if not shown(c) or c.start < pos:
            continue
        style = FLAG_STYLE if c.flags else NONE_STYLE if c.status == "none" else \
            PARTIAL_STYLE if c.status == "partial" else ""
        title = f' title="{_attr(c.reason)}"' if c.reason else ""
        out.append(_esc(answer[pos:c.start]))
        out.append(f'<span style="{style}"{title}>{_claim_html(answer, c)}</span>' if style or title
                   else f"<span>{_claim_html(answer, c)}</span>")
        out += [_source_mark(s) for s in c.sources]
        if c.flags:
            out.append(f' <span style="{REASON_FLAG_STYLE}">❌ {_esc(c.reason)}</span>')
        elif c.status == "none":
            out.append(f' <span style="{REASON_NONE_STYLE}">⚠️ {_esc(c.reason)}</span>')
        pos = c.end
    out.append(_esc(answer[pos:]))
    return "".join(out)


def summary_icon(attribution: Attribution, weak_basis: bool = False) -> str:
    """❌ a figure or modal word contradicts its article; ✅ every sentence's words were found, and
    the articles cited match the question (weak_basis: rag/answer/relevance.py says they do not);
    ⚠️ otherwise."""
    n = attribution.counts()
    if n["number_mismatches"] or n["negation_flips"]:
        return "❌"
    return "✅" if n["claims"] and n["supported"] == n["claims"] and not weak_basis else "⚠️"


def sources_by_article(attributions: Iterable[Attribution | None]) -> dict[int, list[Source]]:
    """1-based citation number → the sources (spans and words) claims found in that article."""
    out: dict[int, list[Source]] = {}
    for a in attributions:
        for c in a.claims if a else []:
            if shown(c):
                for s in c.sources:
                    out.setdefault(s.citation, []).append(s)
    return out


def highlighted_article(text: str, sources: Iterable[Source]) -> str:
    """The article text escaped, the claims' words marked inside the 款/项 that support them."""
    marked = [False] * len(text)
    for s in sources:
        region = text.find(s.span) if s.span else -1
        start, end = (region, region + len(s.span)) if region >= 0 else (0, len(text))
        for word in s.words:
            at = text.find(word, start, end)
            while at >= 0:
                marked[at:at + len(word)] = [True] * len(word)
                at = text.find(word, at + len(word), end)
    return "".join(f'<mark style="{WORD_STYLE}">{_esc(run)}</mark>' if on else _esc(run)
                   for run, on in _runs(text, marked))


def claim_openings(answer: str, attribution: Attribution | None, citation: int) -> list[str]:
    """The openings of the marked sentences supported by `citation` ("公司应按 2 倍支付工作…"):
    the answer shows no sentence numbers, so the article names its sentences by their words."""
    if not attribution:
        return []
    out = []
    for c in attribution.claims:
        if shown(c) and any(s.citation == citation for s in c.sources):
            text = answer[c.start:c.end].strip()
            out.append(text if len(text) <= OPENING_CHARS else text[:OPENING_CHARS] + "…")
    return out


def _runs(text: str, marked: list[bool]):
    """(piece, marked?) runs of text; a marked run never spans a line break (Markdown paragraphs)."""
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or marked[i] != marked[start] or text[i] == "\n" or text[i - 1] == "\n":
            yield text[start:i], marked[start]
            start = i
