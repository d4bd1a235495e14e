"""Text helpers that the KB, retrieval and answering need, below all three (issue 31: folders
that import one way): the legal words jieba should keep whole and the stopwords, the
tokenizer whose words the KB stores and BM25 indexes (`LegalTokenizer`), a law name as
written mapped to a KB's law, and retrieved text made inert before it goes into a prompt.

Does not: index or rank (rag/retrieval/lexical.py) or parse statutes (rag/documents/statutes.py).
"""
from __future__ import annotations

import logging
import re
import threading

import jieba

from rag.documents.statutes import cn_to_int, normalize_law_name

jieba.setLogLevel(logging.WARNING)

# Legal terms jieba's general dictionary splits badly; law short names are added per KB.
LEGAL_TERMS = (
    "用人单位", "劳动者", "劳动合同", "经济补偿", "经济补偿金", "赔偿金", "违约金", "试用期",
    "竞业限制", "服务期", "加班费", "延长工作时间", "带薪年休假", "年休假", "工伤", "工伤保险",
    "职业病", "劳动争议", "劳动仲裁", "仲裁委员会", "社会保险", "养老保险", "医疗保险",
    "失业保险", "生育保险", "最低工资", "劳务派遣", "非全日制用工", "无固定期限劳动合同",
    "固定期限劳动合同", "解除劳动合同", "终止劳动合同", "工资", "拖欠工资", "孕期", "产假",
    "哺乳期", "停工留薪期", "伤残津贴", "一次性伤残补助金", "诉讼时效", "仲裁时效", "举证责任",
    "不当得利", "无因管理", "侵权责任", "违约责任", "定金", "抵押权", "质权", "留置权",
    "夫妻共同财产", "夫妻共同债务", "离婚", "抚养费", "赡养费", "继承", "遗嘱", "遗产",
    "交通事故", "精神损害赔偿", "正当防卫", "紧急避险", "缓刑", "自首", "立功", "取保候审",
)
STOPWORDS = frozenset(
    "的 了 是 在 和 与 或 及 等 我 你 他 她 它 我们 你们 他们 这 那 这个 那个 有 没有 吗 呢 吧 啊 么 "
    "什么 怎么 怎么办 如何 为什么 哪些 可以 能 能否 会 要 应该 应当 请问 一个 如果 但是 因为 所以 "
    "就 都 也 还 被 把 对 让 给 从 到 向 上 下 中 之 其 者 为 以 于 而 则 即 该 本".split()
)

# Chat-template control tokens and reasoning tags: inside retrieved text they would let a
# statute (or an uploaded file posing as one) speak with the system's voice.
_CONTROL_RE = re.compile(r"<\|[^<>|]{0,40}\|>|</?\s*(think|tool_call|tool_response|im_start|im_end|system|"
                         r"user|assistant)\s*>", re.I)


def neutralize(text: str) -> str:
    """Retrieved text as data: control tokens and <think>-like tags are removed."""
    return _CONTROL_RE.sub("", text)


def resolve_law(written: str | None, laws: set[str]) -> str | None:
    """Map a law name as written (劳动合同法, 中华人民共和国劳动法) to a KB law short name."""
    if not written:
        return None
    name = normalize_law_name(written)
    if name in laws:
        return name
    # 民法典 vs 中华人民共和国民法典 is handled above; here: a KB name that ends with it.
    candidates = [law for law in laws if law.endswith(name) or name.endswith(law)]
    return min(candidates, key=len) if len(candidates) >= 1 else None


_TOKEN_RE = re.compile(r"[\w\u4e00-\u9fff]")
# 一年 / 十五日 / 三个月 / 二倍 → 1年 / 15日 / 3个月 / 2倍, so questions and statutes that write
# amounts differently (已满1年不满10年 vs 满一年不满十年) share tokens. Only before a unit,
# so words such as 一般, 统一, 万一 stay as they are.
_AMOUNT_RE = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=个?(?:年|月|日|天|周|倍|岁|小时|工作日|%|％))")


class LegalTokenizer:
    """A private jieba instance (the global one is shared with other code) plus legal words."""

    def __init__(self, extra_words: list[str] | tuple[str, ...] = ()):
        self._jieba = jieba.Tokenizer()
        self._lock = threading.Lock()  # jieba's lazy initialisation is not thread-safe
        with self._lock:
            self._jieba.initialize()
            for word in (*LEGAL_TERMS, *extra_words):
                self._jieba.add_word(word, freq=20000)

    def add_words(self, words: list[str]) -> None:
        with self._lock:
            for word in words:
                if word:
                    self._jieba.add_word(word, freq=20000)

    def tokens(self, text: str) -> list[str]:
        text = _AMOUNT_RE.sub(_amount_to_digits, text.lower())
        out = []
        for tok in self._jieba.cut_for_search(text):
            tok = tok.strip()
            if tok and tok not in STOPWORDS and _TOKEN_RE.search(tok):
                out.append(tok)
        return out


def _amount_to_digits(m: re.Match) -> str:
    try:
        return str(cn_to_int(m.group()))
    except ValueError:
        return m.group()
