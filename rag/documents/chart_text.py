"""What a chart's OCR boxes are, judged by where they sit: the value axis (a column or row of
numbers on one straight pixel → value line), the categories, the title, data labels, legend
entries, and the unit.

Does not measure marks (chart_marks.py) or decide whether the chart can be read (chart.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rag.documents import chart_marks as marks
from rag.documents.ocr import TextLine

NUMBER = re.compile(r"([-−–—一+]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%|％|亿元|万元|亿|万|元|千|[kKMB])?")
YEARS = (1900, 2100)  # a row or column of whole numbers in this range is categories, not a scale
MIN_TICKS = 3
TICK_FIT = 0.03  # of the axis range: ticks further off one straight line are not a linear axis
SAME_LINE = 0.6  # of a text height: right edges (a tick column) or centres (a row) this close align
UNIT_SAID = re.compile(r"单位\s*[:：]\s*([^\s，,；;）)\]】]+)")
UNIT_BRACKETED = re.compile(r"[（(]([^（）()]+)[)）]\s*$")


@dataclass
class Word:
    text: str
    left: float
    top: float
    right: float
    bottom: float
    number: float | None = None
    digits: str = ""  # the number as printed, sign included, unit and thousands commas dropped

    @property
    def cx(self) -> float:
        return (self.left + self.right) / 2

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def tall(self) -> bool:  # rotated text (a y-axis title): never a tick, category or label
        return len(self.text) > 1 and self.bottom - self.top > 2 * (self.right - self.left)


@dataclass
class Axis:
    vertical: bool  # values run up the image (vertical bars, lines); False: to the right
    ticks: list[Word]
    values: list[float]  # the ticks' values (a dropped minus sign put back)
    positions: list[float]  # pixel of each tick along the axis
    slope: float
    offset: float

    def value(self, pixel: float) -> float:
        return self.slope * pixel + self.offset

    def pixel(self, value: float) -> float:
        return (value - self.offset) / self.slope

    @property
    def span(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def ticks_within(self, box: marks.Box) -> tuple[float, float]:
        """The lowest and highest tick inside the axes box, counting ticks OCR missed (a lone
        "0" often is) by stepping the read ones' spacing out to the box's edges."""
        low, high = self.span
        step = float(np.median(np.abs(np.diff(self.values))))
        ends = (box.top, box.bottom) if self.vertical else (box.left, box.right)
        lowest, highest = sorted(self.value(p) for p in ends)
        slack = 0.02 * (highest - lowest)
        while step and low - step >= lowest - slack:
            low -= step
        while step and high + step <= highest + slack:
            high += step
        return round(low, 10), round(high, 10)


@dataclass
class Roles:
    categories: list[Word]  # in reading order
    title: list[Word]
    labels: list[Word]  # numbers inside the axes (or just above them)
    legend: list[Word]


def word_from(line: TextLine) -> Word:
    text = line.text.replace(" ", "")
    match = NUMBER.fullmatch(text)
    if not match:
        return Word(line.text, *line.box)
    sign, digits, decimals, _ = match.groups()
    negative = bool(sign) and sign != "+"
    printed = ("-" if negative else "") + digits.replace(",", "") + (decimals or "")
    return Word(line.text, *line.box, number=float(printed), digits=printed)


def text_height(words: list[Word]) -> float:
    return float(np.median([w.height for w in words]))


def value_axis(words: list[Word]) -> Axis | None:
    """The longest column (else row) of numbers on one straight pixel → value line; whole-number
    years are categories, never a scale. A vertical axis wins a tie, the leftmost first."""
    numbers = [w for w in words if w.number is not None and not w.tall]
    unit = text_height(words)
    found = []
    for vertical in (True, False):
        side = (lambda w: w.right) if vertical else (lambda w: w.cy)
        for group in _groups(numbers, side, SAME_LINE * unit):
            if len(group) >= MIN_TICKS:
                axis = _fitted(group, vertical)
                if axis and not _years(axis.values):
                    found.append(axis)
    if not found:
        return None
    return max(found, key=lambda a: (len(a.ticks), a.vertical, -a.ticks[0].right if a.vertical else a.ticks[0].cy))


def snapped(axis: Axis, rgb: np.ndarray, box: marks.Box) -> Axis:
    """The scale refitted on the drawn tick marks beside the tick labels where at least three
    are found (a text box's centre can sit a pixel or two off its tick)."""
    drawn = marks.tick_marks(rgb, box, along_rows=axis.vertical)
    if not drawn:
        return axis
    positions, hits = [], 0
    for tick, position in zip(axis.ticks, axis.positions):
        near = min(drawn, key=lambda d: abs(d - position))
        hit = abs(near - position) <= 0.6 * tick.height
        positions.append(near if hit else position)
        hits += hit
    return (_line(axis.ticks, axis.values, positions, axis.vertical) if hits >= MIN_TICKS else None) or axis


def box_from_ticks(axis: Axis, words: list[Word], rgb: np.ndarray) -> marks.Box:
    """The axes box where no dark axis lines are drawn: from the long light lines (grid, a
    tinted background) and the text around it. The edge the categories sit on is put just
    inside them: the lowest grid line need not be the axes' edge."""
    height, width = rgb.shape[:2]
    rows, cols = marks.long_lines(rgb)
    gap = abs(axis.positions[1] - axis.positions[0]) / 2
    ticks = {id(t) for t in axis.ticks}
    others = [w for w in words if id(w) not in ticks and not w.tall]
    if axis.vertical:
        left = max(t.right for t in axis.ticks) + 4
        right = max(cols) if cols and max(cols) > left + SAME_LINE * width else width - 1
        top = min(rows) if rows else axis.positions[0]
        lowest = max([axis.positions[-1], *[r for r in rows if r > top]])
        over = [w.bottom for w in others if w.bottom < top and w.cx > left]  # the title, above the top grid line
        top = max(top - gap, max(over) + 2 if over else 0.0)  # marks may rise above the highest grid line
        below = [w.top for w in others if w.top > lowest + 1 and w.cx > left]
        bottom = min(below) - 3 if below else min(height - 1.0, lowest + gap)
    else:
        bottom = min(t.top for t in axis.ticks) - 4
        top = min(rows) if rows else 0.0
        top = top if top < bottom - SAME_LINE * height else 0.0
        right = max([axis.positions[-1], *[c for c in cols if c > axis.positions[0]]])
        beside = [w.right for w in others if w.right < axis.positions[0] and top <= w.cy <= bottom]
        left = max(beside) + 3 if beside else max(0.0, axis.positions[0] - gap)
    return marks.Box(int(left), int(top), int(right), int(bottom))


def roles(words: list[Word], axis: Axis, box: marks.Box) -> Roles:
    ticks = {id(t) for t in axis.ticks}
    rest = [w for w in words if id(w) not in ticks and not w.tall]
    unit = text_height(words)
    if axis.vertical:  # the first row under the axes; an x-axis title sits lower
        below = [w for w in rest if w.top >= box.bottom - 2 and box.left - 2 * unit <= w.cx <= box.right + 2 * unit]
        rows = _groups(below, lambda w: w.cy, 0.5 * unit)
        categories = sorted(rows[0], key=lambda w: w.cx) if rows else []
    else:
        categories = sorted((w for w in rest if w.right <= box.left + 2
                             and box.top - unit / 2 <= w.cy <= box.bottom + unit / 2), key=lambda w: w.cy)
    rest = [w for w in rest if all(w is not c for c in categories)]
    above = [w for w in rest if w.bottom <= box.top + 2]
    spilled = [w for w in above if w.number is not None and w.bottom >= box.top - 2 * unit
               and box.left < w.cx < box.right]  # the label of the tallest bar, over the frame
    title = sorted((w for w in above if all(w is not s for s in spilled)), key=lambda w: (round(w.cy / unit), w.left))
    within = [w for w in rest if box.left < w.cx < box.right and box.top < w.cy < box.bottom]
    legend = [w for w in within if w.number is None] + [
        w for w in rest if w.left >= box.right - 2 and box.top <= w.cy <= box.bottom and w.number is None]
    return Roles(categories, title, [w for w in within if w.number is not None] + spilled, legend)


def unit_of(title: list[Word], words: list[Word], axis: Axis) -> str:
    """「单位：亿元」 anywhere, else a bracketed tail of the title that is not a period, else %
    when the ticks carry it; "" when the chart does not say."""
    for w in title + words:
        said = UNIT_SAID.search(w.text)
        if said:
            return said.group(1)
    for w in title:
        bracketed = UNIT_BRACKETED.search(w.text)
        if bracketed and not re.search(r"\d{4}", bracketed.group(1)):
            return bracketed.group(1)
    if any(t.text.rstrip().endswith(("%", "％")) for t in axis.ticks):
        return "%"
    return ""


def name_from_title(title: str) -> str:
    """A lone series' name when the chart has no legend: its title without brackets
    (「某公司营业收入（2019—2023年，单位：亿元）」 → 某公司营业收入); "数值" when there is none."""
    name = re.sub(r"[（(][^（）()]*[)）]", "", title).strip()
    return name if 0 < len(name) <= 20 else "数值"


def _groups(words: list[Word], key: Callable[[Word], float], tolerance: float) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for w in sorted(words, key=key):
        if groups and key(w) - key(groups[-1][-1]) <= tolerance:
            groups[-1].append(w)
        else:
            groups.append([w])
    return groups


def _fitted(group: list[Word], vertical: bool) -> Axis | None:
    along = (lambda w: w.cy) if vertical else (lambda w: w.cx)
    ticks = sorted(group, key=along)
    values = [t.number for t in ticks]
    tries = [(ticks, values), (ticks, _minus_repaired(values, vertical))]
    if len(ticks) > MIN_TICKS:  # one misread tick left out
        tries += [(ticks[:i] + ticks[i + 1:], values[:i] + values[i + 1:]) for i in range(len(ticks))]
    for subset, subset_values in tries:
        axis = subset_values and _line(subset, subset_values, [along(w) for w in subset], vertical)
        if axis:
            return axis
    return None


def _line(ticks: list[Word], values: list[float], positions: list[float], vertical: bool) -> Axis | None:
    v = np.array(values)
    steps = np.diff(v)
    if len(v) < MIN_TICKS or not ((steps < 0).all() if vertical else (steps > 0).all()):
        return None  # values must rise up the image, or to the right
    slope, offset = np.polyfit(positions, v, 1)
    if np.abs(v - (slope * np.array(positions) + offset)).max() > TICK_FIT * np.ptp(v):
        return None
    return Axis(vertical, list(ticks), list(values), list(positions), float(slope), float(offset))


def _minus_repaired(values: list[float], vertical: bool) -> list[float] | None:
    """OCR often drops matplotlib's minus sign (U+2212): ticks past the 0 tick read positive."""
    if 0 not in values:
        return None
    zero = values.index(0)
    past = range(zero + 1, len(values)) if vertical else range(zero)
    if not any(values[i] > 0 for i in past):
        return None
    return [-abs(v) if i in past else v for i, v in enumerate(values)]


def _years(values: list[float]) -> bool:
    return all(v == int(v) and YEARS[0] <= v <= YEARS[1] for v in values)
