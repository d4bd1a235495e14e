"""A claim's figures and modal words checked against the article spans it echoes.

`number_flags(claim, spans, scores)`: each figure of the claim (rag/answer/numbers.py) must equal
a figure of the same kind that the best spans stating one give; where a span states several values
of that kind (期满前十二个月内 … 六个月的宽展期), the equal one must stand where the claim's figure
does. `negation_flags(claim, spans, scores)`: for each modal word (应当/不得, 可以/不得, 有权/无权),
the spans' modal words before the same verb and of the same party (ROLES) are gathered; the one
whose clause context overlaps the claim's most decides (ties: the claim's own named party, then
the best span), and opposite polarity there is a Flag ("回答写「可以」；第四十一条为「不得」").

A figure is compared only with an article figure on the same subject (SUBJECT_CHECK): the clause
holding it and the clause before must name a content word of the claim, so 「加班费按工资的1.5倍」 is
not held against 第八十五条's 赔偿金 rate 「按应付金额百分之五十以上百分之一百以下」.

Which spans are relevant (scores, the article a claim names) is rag/answer/attribution.py's
business; this module only compares. Does not: judge a figure no span states, the user's own
facts (您工作了三年), or multiples of an article's rate (每满一年支付一个月工资 → 三个月工资).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.answer.claims import GENERIC, STATUTE_TERMS, polarity_words, word_cutter
from rag.answer.numbers import Quantity, comparable, quantities, same_value, show
from rag.documents.statutes import find_article_mentions

CLEAR_SHARE = 0.9  # a figure is cleared by an equal one in a span within this share of the best span stating one
PREDICATE_WINDOW = 30  # characters after a modal word in which its verb is looked for
VERB_WORDS = 2  # content words after a modal word that stand for its verb
SUBJECT_WINDOW = 12  # characters before a modal word in which its party is looked for
RATE_WINDOW = 8  # characters before an article's figure in which 每满一年… makes it a rate
ALIGN_WINDOW = 8  # characters each side of a figure compared to find the article's figure it stands for
MODAL_CONTEXT = 16  # characters each side of a modal word compared to find the article's modal word it stands for
TIE_PARTY = True  # a tie on context goes to the article's modal word of the claim's own party (承包方 … 承包方)
TIE_SCORE = True  # … then to the modal word of the best-scoring span
ALIGNED_CHECK = True  # False: the earlier check (near-best spans only, any same-polarity modal word clears)
# A figure is compared only with an article figure on the same subject: the clause holding the
# article's figure (and the clause before it, where statutes put the case: 安排劳动者延长工作时间的，
# 支付…百分之一百五十) must contain a content word of the claim. Without it, 「加班费为工资的1.5倍」
# was compared with 第八十五条's 「按应付金额百分之五十以上百分之一百以下…加付赔偿金」 (issue 33).
SUBJECT_CHECK = True
SUBJECT_CLAUSES = 2  # the figure's clause and the one before it
# Words of a claim that name no subject: how a figure is reckoned or paid, not what it is of.
NOT_SUBJECTS = frozenset("标准 支付 计算 计发 按照 依照 不低于 不高于 低于 高于 不超过 超过 不少于 少于 以上 以下 以内 "
                         "期间 期限 时间 之内 之日起 应付 金额 数额 费用 给予 获得 发放 享受 承担 法定 具体".split())
_FIGURE_MASK = "　"
_PUNCT_RE = re.compile(r"[\s　，。；、,.;：:“”「」\"'（）()《》【】\[\]!！?？*#\-]")
_RATE_RE = re.compile(r"每满?[零一二两三四五六七八九十百半\d]")  # 每满一年…: per unit of a figure, not 每日 (a limit)


class Span(Protocol):
    """What the checks read of a retrieved 款 or 项 (rag/answer/attribution.py's _Span)."""

    scored: str  # the text compared: a 项 with the 款 that leads into it
    article_cn: str  # 第四十四条, named in the flag


@dataclass
class Flag:
    """A figure or a modal word of the claim that contradicts its supporting article."""

    kind: str  # "number" | "negation"
    answer: str  # as the answer has it ("2 倍", "不得")
    article: str  # as the article has it ("150%", "应当")
    where: str  # 第四十四条
    answer_text: str = ""  # the words in the claim, for highlighting

    @property
    def message(self) -> str:
        if self.kind == "negation":
            return f"回答写「{self.answer}」；{self.where}为「{self.article}」"
        return f"回答写 {self.answer}；{self.where}为 {self.article}"


def number_flags(claim: str, spans: Sequence[Span], scores: Sequence[float] | None = None) -> list[Flag]:
    """Figures of the claim that differ from every figure of the same kind in the relevant
    spans (best first) that state figures of that kind and score within CLEAR_SHARE of the
    best of them; a figure no relevant span speaks of is not judged."""
    flags = []
    row_of = {id(s): (scores[k] if scores is not None else 1.0) for k, s in enumerate(spans)}
    span_q = [(s, quantities(s.scored)) for s in spans]
    subject = subject_words(claim) if SUBJECT_CHECK else None
    for q in quantities(unmentioned(claim)):
        stating = [(s, [x for x in qs if comparable(q, x) and (subject is None or on_subject(subject, s.scored, x))])
                   for s, qs in span_q]
        stating = [(s, qs) for s, qs in stating if qs]
        top = max(row_of[id(s)] for s, _ in stating) if stating else 0.0
        stating = [(s, qs) for s, qs in stating if row_of[id(s)] >= CLEAR_SHARE * top]
        if not stating or any(_clears(claim, q, s.scored, qs) for s, qs in stating) or _computed(claim, q) \
                or any(_multiple_of_rate(q, s.scored, x) for s, qs in stating for x in qs):
            continue
        span, candidates = stating[0]
        other = _aligned(claim, q, span.scored, candidates)
        flags.append(Flag("number", show(q), show(other), span.article_cn, q.text))
    return flags


def subject_words(claim: str) -> list[tuple[str, ...]]:
    """What the claim is about: its content words (2+ characters; not parties, modal words,
    generic or reckoning words: NOT_SUBJECTS), each with the statute terms that say it (加班 →
    延长工作时间)."""
    out = []
    for word in word_cutter().cut(mask_figures(unmentioned(claim))):
        word = word.strip()
        if len(word) < 2 or not re.fullmatch(r"[\u4e00-\u9fff]+", word) or word in GENERIC or word in NOT_SUBJECTS \
                or word in _ROLE_WORDS or _ROLE_RE.fullmatch(word) or polarity_words(word):
            continue
        out.append((word, *STATUTE_TERMS.get(word, ())))
    return out


def on_subject(subject: list[tuple[str, ...]], span_text: str, x: Quantity) -> bool:
    """True when the clauses around the span's figure x (SUBJECT_CLAUSES) name a word of the
    claim's subject: 「支付不低于工资的百分之一百五十的工资报酬」 is about 工资 / 加班费, 「按应付金额
    百分之五十以上…加付赔偿金」 is not."""
    before = re.split(r"[，。；,;：:\n]", span_text[:x.start])
    after = re.split(r"[，。；,;：:\n]", span_text[x.end:], maxsplit=1)[0]
    clauses = "".join(before[-SUBJECT_CLAUSES:]) + after
    return any(form in clauses for forms in subject for form in forms)


def _computed(claim: str, q: Quantity) -> bool:
    """True for a figure that is the user's own fact or a product of the article's rate
    (工作了三年, 每满一年支付一个月工资 → 三个月): not the article's own figure to compare."""
    before = claim[max(0, q.start - 4):q.start]
    return bool(re.search(r"[您你我他她]|已经|工作了|干了|共计|总共|合计|约", before))


def _multiple_of_rate(q: Quantity, span_text: str, x: Quantity) -> bool:
    """True when the span states x as a rate (每满一年支付一个月工资) and q is a whole multiple
    of it: an amount the answer computed for the user's case (三个月工资), not a misquote."""
    return q.kind == x.kind and _RATE_RE.search(span_text[max(0, x.start - RATE_WINDOW):x.start]) is not None \
        and x.value > 0 and q.value > x.value and abs(q.value / x.value - round(q.value / x.value)) < 1e-6


def _clears(claim: str, q: Quantity, span_text: str, candidates: list[Quantity]) -> bool:
    """The span states q's value; where it states several values of that kind (期满前十二个月内 …
    六个月的宽展期), the equal one must stand where the claim's figure does, as well as any other."""
    equal = [x for x in candidates if same_value(q, x)]
    if not equal or not ALIGNED_CHECK or len(equal) == len(candidates):
        return bool(equal)
    key = _alignment(claim, q, span_text)
    return max(key(x) for x in equal) >= max(key(x) for x in candidates)


def _aligned(claim: str, q: Quantity, span_text: str, candidates: list[Quantity]) -> Quantity:
    """The span's figure that stands where the claim's does (most shared context characters)."""
    return max(candidates, key=_alignment(claim, q, span_text))


def _alignment(claim: str, q: Quantity, span_text: str) -> Callable[[Quantity], tuple[int, int]]:
    """How well a figure of the span stands where the claim's figure q does: shared character
    pairs near it, then in its clause."""
    def grams(text: str, tag: str) -> set[str]:
        return {tag + text[i:i + 2] for i in range(len(text) - 1)}

    def near(text: str, x: Quantity) -> set[str]:
        return grams(text[max(0, x.start - ALIGN_WINDOW):x.start], "<") | grams(text[x.end:x.end + ALIGN_WINDOW], ">")

    def clause(text: str, x: Quantity) -> set[str]:  # back to the last 。or ；
        return grams(re.split(r"[。；;]", text[:x.start])[-1], "<")

    # Ties at the near window (每日不得超过一小时 / 每日不得超过三小时) are broken by the clause.
    return lambda s: (len(near(claim, q) & near(span_text, s)), len(clause(claim, q) & clause(span_text, s)))


def negation_flags(claim: str, spans: Sequence[Span], scores: Sequence[float] | None = None) -> list[Flag]:
    """Modal words of the claim whose verb the relevant spans govern with the opposite
    polarity only (one span with the same polarity clears it)."""
    flags = []
    score_of = {id(s): v for s, v in zip(spans, scores or ())}
    span_modals = [(s, polarity_words(s.scored)) for s in spans]
    for m in polarity_words(claim):
        verbs = verb_words(claim[m.end:m.end + PREDICATE_WINDOW])
        if not verbs:
            continue
        subject = _subject(claim, m.start)
        governing = [(s, x) for s, modals in span_modals for x in modals
                     if set(verbs) & set(verb_words(s.scored[x.end:x.end + PREDICATE_WINDOW]))
                     and _same_subject(subject, _subject(s.scored, x.start))]
        if governing and ALIGNED_CHECK:  # the article's modal word that stands where the claim's does decides
            here = _modal_context(claim, m)
            # ties on context go to a modal word of the claim's own named party, then to the best span
            fit = [(len(here & _modal_context(sp.scored, x)), TIE_PARTY and bool(subject)
                    and _subject(sp.scored, x.start) == subject, TIE_SCORE and score_of.get(id(sp), 0.0))
                   for sp, x in governing]
            governing = [g for g, f in zip(governing, fit) if f == max(fit)]
        if governing and all(x.negative != m.negative for _, x in governing):
            span, other = governing[0]
            flags.append(Flag("negation", m.word, other.word, span.article_cn, m.word))
    return flags


def _modal_context(text: str, m) -> set[str]:
    """Character pairs of the clause around a modal word (its verb phrase after, its party and
    condition before), tagged by side; the modal word itself left out."""
    before = re.split(r"[。；;！？]", text[max(0, m.start - MODAL_CONTEXT):m.start])[-1]
    after = re.split(r"[。；;！？]", text[m.end:m.end + MODAL_CONTEXT])[0]
    before, after = squash(before), squash(after)
    return {"<" + before[i:i + 2] for i in range(len(before) - 1)} | {">" + after[i:i + 2] for i in range(len(after) - 1)}


# Parties a modal word may govern: 发包方 and 承包方, 用人单位 and 劳动者 are not one. A clause
# naming none of these (当事人, 任何组织或者个人, 死者) agrees with any party.
ROLES = ("用人单位 劳动者 劳务派遣单位 用工单位 发包方 承包方 发包人 承包人 出租人 承租人 债权人 债务人 委托人 受托人 "
         "行纪人 出卖人 买受人 被侵权人 侵权人 抵押权人 抵押人 质权人 出质人 保证人 承揽人 定作人 保管人 寄存人 赠与人 "
         "受赠人 投保人 被保险人 保险人 受益人 留置权人 借款人 贷款人 承运人 托运人 转让人 受让人 被许可人 许可人 "
         "被监护人 监护人 人民法院 行政机关 原告 被告 业主 物业服务人 著作权人 专利权人 商标注册人 被继承人 继承人").split()
ROLE_SYNONYMS = {"公司": "用人单位", "单位": "用人单位", "老板": "用人单位", "员工": "劳动者", "职工": "劳动者",
                 "保险公司": "保险人", "法院": "人民法院", "房东": "出租人", "租客": "承租人"}
_ROLE_RE = re.compile("|".join(sorted([*ROLES, *ROLE_SYNONYMS], key=len, reverse=True)))
_ROLE_WORDS = frozenset("用人单位 劳动者 当事人 公司 单位 员工 职工 您 你 其 对方 向 对 给 按照 依照 依法 在 与 和 及 的 了".split())
_PARTY_RE = _ROLE_RE  # kept for readers of the earlier name
# Connectives and adverbs that stand between a modal word and its verb (可以随时请求, 可以减轻或者不承担):
# not the verb, so 随时 / 或者 alone do not make two clauses about one thing.
NOT_VERBS = frozenset("或者 或是 以及 并且 而且 及其 随时 及时 直接 自行 一并 同时 另行 立即 相应 任何 一切".split())


def _subject(text: str, end: int) -> str:
    """The last party word (ROLES) before a modal word in its clause (用人单位, 承包方…), or ""."""
    if ALIGNED_CHECK:
        clause = re.split(r"[，。；,;！？：:]", text[max(0, end - SUBJECT_WINDOW):end])[-1]
        found = _ROLE_RE.findall(clause)
        return ROLE_SYNONYMS.get(found[-1], found[-1]) if found else ""
    clause = re.split(r"[，。；,;！？：:]", text[max(0, end - SUBJECT_WINDOW):end])[-1]
    m = _OLD_PARTY_RE.search(clause)
    return m.group() if m else ""


_OLD_PARTY_RE = re.compile(r"[\u4e00-\u9fff]{0,4}(?:方|人|单位|者|机关|部门|组织|公司|法院|委员会|企业|户)(?=[^\u4e00-\u9fff]*$|[^方人者户]*$)")


def _same_subject(a: str, b: str) -> bool:
    """Unknown parties agree; known ones must be the same role (用人单位 / 该用人单位, not 承包方 / 发包方)."""
    if ALIGNED_CHECK:
        return not a or not b or a == b
    return not a or not b or a[-3:] in b or b[-3:] in a


def verb_words(text: str) -> list[str]:
    """The first VERB_WORDS content words after a modal word, within its clause (role nouns
    and figures skipped)."""
    clause = mask_figures(re.split(r"[，。；,;！？：:]", text, maxsplit=1)[0])
    out = []
    for word in word_cutter().cut(clause):
        word = word.strip()
        if len(word) >= 2 and word not in _ROLE_WORDS and (word not in NOT_VERBS or not ALIGNED_CHECK) and re.search(r"[\u4e00-\u9fff]", word) \
                and not polarity_words(word):
            out.append(word)
        if len(out) == VERB_WORDS:
            break
    return out


def unmentioned(text: str) -> str:
    """Article references (《劳动法》第四十四条) blanked: they are matched by MENTION_BONUS."""
    chars = list(text)
    for m in find_article_mentions(text):
        chars[m.span[0]:m.span[1]] = _FIGURE_MASK * (m.span[1] - m.span[0])
    return "".join(chars)


def mask_figures(text: str) -> str:
    """Figures blanked out (kept the same length) so that scoring does not see them."""
    chars = list(text)
    for q in quantities(text):
        chars[q.start:q.end] = _FIGURE_MASK * (q.end - q.start)
    return "".join(chars)


def squash(text: str) -> str:
    return _PUNCT_RE.sub("", text)
