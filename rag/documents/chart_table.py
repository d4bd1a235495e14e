"""What a chart reading hands on: a table of category → value per series, its unit, and for
each value whether it was read from a data label or measured off the tick scale, written out
as Markdown for a text model and for the page.

Does not read images (rag/documents/chart.py does) or ask any model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

KIND_NAMES = {"bars": "柱状图", "horizontal bars": "条形图（横向柱状图）", "line": "折线图",
              "bars and line": "柱线组合图", "labels": "图形未能测量，数值全部读自数据标签"}
SOURCE_NOTE = "不带 ≈ 的数值读自图上的数据标签；带 ≈ 的数值按坐标轴刻度量出，误差约为刻度范围的 3%。"


@dataclass
class Cell:
    value: float
    from_label: bool  # False: measured off the tick scale
    text: str  # the label's digits, or the estimate rounded to the scale's precision

    @property
    def shown(self) -> str:
        return self.text if self.from_label else f"≈{self.text}"


@dataclass
class ChartTable:
    kind: str  # a key of KIND_NAMES
    title: str
    unit: str
    categories: list[str]  # left to right; top to bottom for horizontal bars
    series: list[str]
    rows: list[list[Cell | None]]  # one per category, one cell per series (None: nothing read)
    axis: tuple[float, float]  # the lowest and highest tick value
    notes: list[str] = field(default_factory=list)

    def values(self, series: int = 0) -> list[float | None]:
        return [row[series].value if row[series] else None for row in self.rows]

    def markdown(self) -> str:
        """A header line, a Markdown table (one series: with the change from the row above),
        a line per series on where it starts, ends, peaks and falls, and what ≈ means."""
        head = [f"图表类型：{KIND_NAMES[self.kind]}"] + ([f"标题：{self.title}"] if self.title else [])
        head += [f"单位：{self.unit or '未标明'}", f"数值轴刻度：{number_text(self.axis[0])} 至 {number_text(self.axis[1])}"]
        one = len(self.series) == 1
        columns = ["类别", *self.series] + (["较上一项"] if one else [])
        lines = ["；".join(head), "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for i, (category, cells) in enumerate(zip(self.categories, self.rows)):
            shown = [c.shown if c else "—" for c in cells]
            if one:
                shown.append(_change(self.rows[i - 1][0] if i else None, cells[0]))
            lines.append("| " + " | ".join([category, *shown]) + " |")
        for paragraph in [self._summary(s) for s in range(len(self.series))] + self.notes + [SOURCE_NOTE]:
            lines += ["", paragraph]  # blank lines: each its own paragraph where Markdown is rendered
        return "\n".join(lines)

    def _summary(self, s: int) -> str:
        """One series in words a small model can copy: every value in order, the overall
        change, the lowest and highest, and the turning points (where a rise becomes a fall or
        the other way round)."""
        read = [(c, row[s]) for c, row in zip(self.categories, self.rows) if row[s]]
        v = lambda cell: float(cell.text)  # noqa: E731 - compared as shown, so the words match the table
        if not read:
            return f"{self.series[s]}：没有读出数值。"
        unit = f"（单位：{self.unit}）" if self.unit else ""
        listed = "，".join(f"{c}：{cell.shown}" for c, cell in read)
        if len(read) < 2:
            return f"{self.series[s]}：{listed}{unit}。"
        (first, a), (last, b) = read[0], read[-1]
        overall = "持平" if v(b) == v(a) else "升至" if v(b) > v(a) else "降至"
        low = min(read, key=lambda r: v(r[1]))
        high = max(read, key=lambda r: v(r[1]))
        turns = []
        for (_, before), (c, now), (_, after) in zip(read, read[1:], read[2:]):
            if (v(now) - v(before)) * (v(after) - v(now)) < 0:
                turns.append(f"{c}（{'由升转降' if v(now) > v(before) else '由降转升'}）")
        steps = [v(b2) - v(b1) for (_, b1), (_, b2) in zip(read, read[1:])]
        shape = ("每一项都比上一项高（逐项上升）" if all(d > 0 for d in steps)
                 else "每一项都比上一项低（逐项下降）" if all(d < 0 for d in steps)
                 else f"转折点：{'、'.join(turns)}" if turns else "有持平的项")
        change = "" if v(b) == v(a) else f"（{'增加' if v(b) > v(a) else '减少'} {_step(a, b)}）"
        return (f"{self.series[s]}逐项数值：{listed}{unit}。整体从 {first} 的 {a.shown} {overall} {last} 的 {b.shown}{change}；"
                f"最低 {low[0]}（{low[1].shown}），最高 {high[0]}（{high[1].shown}）；{shape}。")


def number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.6g}"


def estimate_digits(axis_range: float) -> int:
    """Decimals that show an estimate to about a hundredth of the axis range."""
    return max(0, -math.floor(math.log10(axis_range / 100))) if axis_range > 0 else 0


def _change(before: Cell | None, now: Cell | None) -> str:
    if before is None or now is None:
        return "—"
    step = _step(before, now)
    if float(step.lstrip("≈")) == 0:
        return "持平"
    return f"{'上升' if float(now.text) > float(before.text) else '下降'} {step}"


def _step(before: Cell, now: Cell) -> str:
    """The size of the change, with as many decimals as the values show (≈ when one is estimated)."""
    digits = max(_decimals(before.text), _decimals(now.text))
    exact = before.from_label and now.from_label
    return f"{'' if exact else '≈'}{abs(float(now.text) - float(before.text)):.{digits}f}"


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0
