"""Figures in legal text read as values: multiples, percentages, time limits, ages, amounts.

`quantities(text)` finds each figure a statute or an answer states — 百分之一百五十 / 150% /
1.5倍 (all the multiple 1.5), 六十日 / 60天, 三个月 / 一年 (durations, years as 12 months),
十六周岁, 2000元 / 五万元 — with Chinese and Arabic numerals read both ways (integers through
rag.documents.statutes.cn_to_int, plus 点 decimals, 半, 两, 万/亿). `same_value` compares two of one
kind (a limit in months and one in days compare, but are not equal: 两个月 ≠ 六十日); `show` writes a value
back for a message ("150%", "2 倍", "60 日").

Does not: read dates (2018年, 1月1日 are skipped), ordinals (第三个月), counts of people or
times, or ranges as one value (一倍以上三倍以下 is two figures).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.documents.statutes import cn_to_int

_CN = "零〇一二两三四五六七八九十百千万亿"
_NUM = rf"(?:\d+(?:[.,]\d+)*|[{_CN}]+(?:点[{_CN}]+)?)"
DAYS_PER_MONTH = 30  # when one side says 两个月 and the other 六十日
KINDS = ("multiple", "days", "months", "hours", "age", "money")
KIND_NAMES = {"multiple": "倍数/比例", "days": "期限", "months": "期限", "hours": "时长", "age": "年龄", "money": "金额"}

# One alternation, longest forms first; each named group says how to read the figure.
_QUANTITY_RE = re.compile(
    rf"(?P<pct_cn>百分之(?P<pct_cn_n>{_NUM}))"
    rf"|(?P<frac>(?P<den>{_NUM})分之(?P<num>{_NUM}))"
    rf"|(?P<pct>(?P<pct_n>{_NUM})\s*[%％])"
    rf"|(?P<mul>(?P<mul_n>{_NUM}|半)\s*倍(?P<mul_half>半)?)"
    rf"|(?P<year>(?P<year_n>{_NUM})\s*(?P<year_half>年半|个?年|周年)|(?P<half_year>半年))"
    rf"|(?P<month>(?P<month_n>{_NUM})\s*个半?月(?P<month_half>半)?|(?P<half_month>半个月))"
    rf"|(?P<age>(?P<age_n>{_NUM})\s*周?岁)"
    rf"|(?P<day>(?P<day_n>{_NUM})\s*(?:个)?(?P<day_unit>工作日|日|天|周|星期))"
    rf"|(?P<hour>(?P<hour_n>{_NUM})\s*(?:个)?小时)"
    rf"|(?P<money>(?P<money_n>{_NUM})\s*(?P<money_unit>万元|元|万))")
_UNIT_OF = {"pct_cn": "multiple", "pct": "multiple", "frac": "multiple", "mul": "multiple", "year": "months",
            "month": "months", "day": "days", "hour": "hours", "age": "age", "money": "money"}


@dataclass(frozen=True)
class Quantity:
    """A figure as written (`text`, where it is) and as a value of one kind."""

    value: float
    kind: str  # multiple | days | months | hours | age | money
    text: str
    start: int
    end: int
    style: str = ""  # "percent" when written as a percentage (shown back the same way)


def read_number(text: str) -> float:
    """'150' / '1,000' / '1.5' / '一百五十' / '一点五' / '两' / '半' / '五万' / '二〇一八' → a float."""
    text = text.strip().replace(",", "")
    if text == "半":
        return 0.5
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if "点" in text:
        whole, frac = text.split("点", 1)
        digits = "".join(str(cn_to_int(ch)) for ch in frac)
        return float(f"{cn_to_int(whole) if whole else 0}.{digits}")
    if "亿" in text:
        high, low = text.split("亿", 1)
        return cn_to_int(high) * 1e8 + (cn_to_int(low) if low else 0)
    return float(cn_to_int(text))


def quantities(text: str) -> list[Quantity]:
    """Every figure in text with a unit this module knows; dates and ordinals are left out."""
    out: list[Quantity] = []
    for m in _QUANTITY_RE.finditer(text):
        group = next(g for g in _UNIT_OF if m.group(g))
        if m.start() > 0 and text[m.start() - 1] == "第":
            continue  # 第三个月, 第二年: an ordinal, not a limit
        try:
            value, style = _value(m, group)
        except (ValueError, ZeroDivisionError):
            continue
        if value is None:
            continue
        out.append(Quantity(value, _UNIT_OF[group], m.group(), m.start(), m.end(), style))
    return out


def _value(m: re.Match, group: str) -> tuple[float | None, str]:
    if group == "pct_cn":
        return read_number(m["pct_cn_n"]) / 100, "percent"
    if group == "pct":
        return read_number(m["pct_n"]) / 100, "percent"
    if group == "frac":
        return read_number(m["num"]) / read_number(m["den"]), "fraction"
    if group == "mul":  # 一倍半 = 1.5
        return read_number(m["mul_n"]) + (0.5 if m["mul_half"] else 0), ""
    if group == "year":
        if m["half_year"]:
            return 6.0, ""
        raw = m["year_n"]
        if re.fullmatch(r"\d{4}", raw) or re.fullmatch(r"[零〇一二三四五六七八九]{4}", raw):
            return None, ""  # 2018年 / 二〇一八年: a date
        return read_number(raw) * 12 + (6 if m["year_half"] == "年半" else 0), ""
    if group == "month":
        if m["half_month"]:
            return 0.5, ""
        half = 0.5 if ("半月" in m.group() or m["month_half"]) else 0
        return read_number(m["month_n"]) + half, ""
    if group == "day":
        unit = m["day_unit"]
        if unit == "日" and m.start() > 0 and re.search(r"月\s*$", m.string[max(0, m.start() - 3):m.start()]):
            return None, ""  # 1月1日: a date
        return read_number(m["day_n"]) * (7 if unit in ("周", "星期") else 1), ""
    if group == "hour":
        return read_number(m["hour_n"]), ""
    if group == "age":
        return read_number(m["age_n"]), ""
    if group == "money":
        return read_number(m["money_n"]) * (10000 if m["money_unit"].startswith("万") else 1), ""
    return None, ""


RATES_ARE_MULTIPLES = False  # True: the earlier reading, 年利率24% compared with 四倍


def comparable(a: Quantity, b: Quantity) -> bool:
    """Same kind of figure (a limit in months and one in days compare). A percentage under
    100% is a rate (年利率24%), not a multiple: it is not compared with a figure written in 倍
    (一年期贷款市场报价利率四倍)."""
    if a.kind == "multiple" == b.kind and not RATES_ARE_MULTIPLES:
        return not (_rate(a) and _times(b) or _rate(b) and _times(a))
    return a.kind == b.kind or {a.kind, b.kind} == {"days", "months"}


def _rate(q: Quantity) -> bool:
    return q.style == "percent" and q.value < 1


def _times(q: Quantity) -> bool:
    return "倍" in q.text


MONTHS_EQUAL_DAYS = False  # True: the earlier reading, 两个月 = 六十日


def same_value(a: Quantity, b: Quantity) -> bool:
    """Equal values of one kind: 150% = 1.5倍 = 一倍半, 一年 = 十二个月. A limit in months and
    one in days compare but are never equal (两个月 is not 六十日 in a statute's reckoning)."""
    if not comparable(a, b):
        return False
    x, y = a.value, b.value
    if a.kind != b.kind:  # one in months, one in days
        if not MONTHS_EQUAL_DAYS:
            return False
        x, y = (x * DAYS_PER_MONTH, y) if a.kind == "months" else (x, y * DAYS_PER_MONTH)
    return abs(x - y) <= 1e-6 * max(1.0, abs(x), abs(y))


def show(q: Quantity) -> str:
    """The value for a message: '150%', '2 倍', '60 日', '12 个月', '16 周岁', '2000 元'."""
    def num(x: float) -> str:
        return f"{x:g}"

    if q.kind == "multiple" and q.style == "fraction":
        return q.text
    if q.kind == "multiple":
        return f"{num(q.value * 100)}%" if q.style == "percent" else f"{num(q.value)} 倍"
    if q.kind == "months":
        return f"{num(q.value / 12)} 年" if q.value >= 12 and q.value % 12 == 0 else f"{num(q.value)} 个月"
    unit = {"days": "日", "hours": "小时", "age": "周岁", "money": "元"}[q.kind]
    return f"{num(q.value)} {unit}"
