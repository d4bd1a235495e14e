"""An answer split into the claims attribution checks: sentences, and 结论/依据/建议 items.

`split_claims(answer)` cuts at sentence ends (。！？；), line breaks and list items, never inside
quotation marks (a quoted article stays whole), and keeps each claim's place in the answer so
the chat can put source marks right after it. A claim knows its section (结论 / 依据 / 建议,
from headings such as "结论：" or "**依据**"), whether it is advice (what to do next, which
needs no article), and whether it is checkable at all (greetings, headings alone, "希望对您有
帮助" are not).

`polarity_words(text)` finds the modal words that make a claim positive or negative (应当 /
不得, 可以 / 不可以, 有权 / 无权 …), for the negation check in rag/answer/attribution.py.

Does not: split a sentence into several propositions, or resolve what 其/该 refer to.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

SECTIONS = ("结论", "依据", "建议")
MIN_CLAIM_CJK = 6  # shorter pieces ("您好", "具体如下") carry no checkable statement
_END = set("。！？!?；;")
_OPEN_QUOTES, _CLOSE_QUOTES = "“「『", "”」』"
_HEADING_RE = re.compile(r"^\s*(?:[#>*\-\s]*)(?:\*\*)?\s*(结论|依据|法律依据|建议|分析|理由)\s*(?:\*\*)?\s*[：:]?\s*(?:\*\*)?\s*")
_ITEM_RE = re.compile(r"^\s*(?:[-*•]\s+|\d+[.、．)）]\s*|[（(]\d+[)）]\s*|[一二三四五六七八九十]+、\s*|[（(][一二三四五六七八九十]+[)）]\s*)")
_FILLER_RE = re.compile(r"^(?:您好|你好|谢谢|感谢)|希望(?:以上|我的)?.{0,6}(?:帮助|有用)|仅供参考|如有(?:其他)?(?:疑问|问题)|"
                        r"^(?:综上所述?|具体如下|如下|以上)[：:，,]?$")
_ADVICE_RE = re.compile(r"^(?:建议|您可以|你可以|可以先|请|应及时|尽快|最好|记得|注意|保留|收集|咨询)")
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")
_SECTION_NAMES = {"法律依据": "依据", "分析": "依据", "理由": "依据"}

# Modal words. Single characters (应, 能, 可, 须) are left out: they sit inside too many words.
NEGATIVE = ("不应当", "不应该", "不需要", "不允许", "不可以", "可以不", "不享有", "不得", "不应", "不必", "无须", "无需",
            "毋须", "不需", "不用", "不可", "不能", "无权", "禁止", "严禁", "不准", "不予")
POSITIVE = ("应当", "应该", "必须", "需要", "可以", "有权", "能够", "允许", "准许", "享有", "予以", "有义务")

# Colloquial words of answers and the statute terms that say the same (attribution.py scores claims
# with them; mismatch.py reads the subject of a figure with them).
STATUTE_TERMS = {
    "加班": ("延长工作时间", "延长工作"), "加班费": ("工资报酬", "延长工作时间"), "工作日": ("延长工作时间",),
    "周末": ("休息日",), "双休日": ("休息日",), "节假日": ("法定休假日",), "法定节假日": ("法定休假日",),
    "辞退": ("解除劳动合同", "解除"), "开除": ("解除劳动合同", "解除"), "炒鱿鱼": ("解除劳动合同",),
    "辞职": ("解除劳动合同", "解除"), "离职": ("解除劳动合同", "解除"), "补偿金": ("经济补偿",),
    "公司": ("用人单位",), "单位": ("用人单位",), "老板": ("用人单位",), "员工": ("劳动者",), "职工": ("劳动者",),
    "社保": ("社会保险",), "工资": ("劳动报酬", "工资"), "薪水": ("工资", "劳动报酬"), "合同": ("劳动合同",),
    "试用": ("试用期",), "怀孕": ("孕期",), "仲裁": ("劳动争议仲裁", "仲裁"), "起诉": ("诉讼", "人民法院"),
}
# Words that say nothing of what a claim is about.
GENERIC = frozenset("根据 依据 按照 规定 法律 法条 条文 有关 相关 情况 问题 您好 你好 因此 所以 那么 这种 这样 其中 "
                    "一般 通常 可能 需要 进行 情形 之一 以上 以下 您 你 我 公司的".split())


@dataclass
class Claim:
    text: str  # the claim without its list marker or heading
    start: int  # where text starts and ends in the answer
    end: int
    section: str = ""  # 结论 / 依据 / 建议 / "" (before any heading)
    advice: bool = False
    checkable: bool = True


def split_claims(answer: str) -> list[Claim]:
    """The answer's claims in order (uncheckable pieces included, with checkable=False)."""
    claims: list[Claim] = []
    section = ""
    pos = 0
    for line in answer.splitlines(keepends=True):
        line_start, pos = pos, pos + len(line)
        body = line.rstrip("\r\n")
        offset = 0
        if m := _HEADING_RE.match(body):
            name = m.group(1)
            section = _SECTION_NAMES.get(name, name)
            offset = m.end()
        if m := _ITEM_RE.match(body[offset:]):
            offset += m.end()
        for start, end in _sentences(body, offset):
            claims.append(_claim(answer, line_start + start, line_start + end, section))
    return claims


def _sentences(line: str, start: int) -> list[tuple[int, int]]:
    """(start, end) of each sentence of line from `start`, the end mark included."""
    out, depth, begin = [], 0, start
    for i in range(start, len(line)):
        ch = line[i]
        if ch in _OPEN_QUOTES:
            depth += 1
        elif ch in _CLOSE_QUOTES:
            depth = max(0, depth - 1)
        elif ch in _END and depth == 0:
            out.append((begin, i + 1))
            begin = i + 1
    if line[begin:].strip():
        out.append((begin, len(line)))
    return out


def _claim(answer: str, start: int, end: int, section: str) -> Claim:
    raw = answer[start:end]
    lead = len(raw) - len(raw.lstrip(" \t　*"))
    trail = len(raw) - len(raw.rstrip(" \t　*"))
    text = raw.strip(" \t　*")
    plain = text.replace("**", "")
    cjk = len(_CJK_RE.findall(plain))
    checkable = cjk >= MIN_CLAIM_CJK and not _FILLER_RE.search(plain)
    advice = section == "建议" or bool(_ADVICE_RE.match(plain))
    return Claim(text, start + lead, end - trail, section, advice, checkable)


@dataclass(frozen=True)
class Modal:
    word: str
    negative: bool
    start: int
    end: int


def polarity_words(text: str) -> list[Modal]:
    """The modal words in text, each positive (应当, 可以, 有权…) or negative (不得, 无权…).

    Read on jieba's words, so 所有权 holds no 有权 and 不必然 no 不必; 不 / 无 / 没有 before a
    positive word (不 可以, 不 享有) make one negative word of both."""
    out: list[Modal] = []
    pos, prev = 0, None
    for word in word_cutter().cut(text):
        start, pos = pos, pos + len(word)
        if word in _POSITIVE_WORDS and prev is not None and prev.word in _NEGATORS and prev.end == start:
            out.append(Modal(prev.word + word, True, prev.start, pos))
        elif word in _POSITIVE_WORDS:
            out.append(Modal(word, False, start, pos))
        elif word in NEGATIVE:
            out.append(Modal(word, True, start, pos))
        elif word == "不" and out and out[-1].word == "可以" and out[-1].end == start:
            out[-1] = Modal("可以不", True, out[-1].start, pos)
        prev = Modal(word, False, start, pos) if word in _NEGATORS else None
    return out


_NEGATORS = {"不", "无", "没有", "并不"}
# jieba's dictionary glues some modal words to their verb (不得公开, 不能转让, 不予认定, 予以注册):
# such words are taken out of the cutter, so the modal word and its verb are read apart.
# 不可 is left whole: its compounds are idioms and terms (不可抗力, 不可分割).
COMPOUND_MODALS = ("不得", "不能", "不予", "予以", "无权", "严禁", "禁止")
_POSITIVE_WORDS = set(POSITIVE) | {"应予以", "应予"}
_cutter = None
_cutter_lock = threading.Lock()


def word_cutter():
    """A jieba tokenizer of this module's own (accurate mode, the legal terms added): whole
    words, for modal words and the verbs after them (modal-word + verb compounds taken out: COMPOUND_MODALS)."""
    global _cutter
    with _cutter_lock:
        if _cutter is None:
            import jieba

            from rag.text import LEGAL_TERMS

            cutter = jieba.Tokenizer()
            cutter.initialize()
            for word in LEGAL_TERMS:
                cutter.add_word(word, freq=20000)
            for word in [w for w, f in cutter.FREQ.items() if f and w not in LEGAL_TERMS]:
                head = next((m for m in COMPOUND_MODALS if word.startswith(m)), None)
                if head and len(word) - len(head) >= 2 and cutter.FREQ.get(word[len(head):]):
                    cutter.del_word(word)
            _cutter = cutter
        return _cutter
