"""Reading a chart image into a table (chart_table.py): category → value for each series, the
unit, and for each value whether it was read from a data label or measured off the scale.

The OCR boxes are sorted by where they sit (chart_text.py): the value axis and its fitted
pixel → value scale, categories, title, data labels, legend. The marks are measured with
OpenCV (chart_marks.py): each bar's far end, or a line's point at each category, read off the
scale. A data label beside a mark gives it its value when the two agree within LABEL_AGREES of
the axis range; otherwise the measurement stays and the cell is marked as estimated.
Horizontal bar charts are measured on the transposed image, so one set of measurements serves.

Reads vertical and horizontal bars (grouped too), lines, bars with a line, one or more series,
negative values and an axis that starts above zero. Does not read pies, photos of screens,
candlesticks, stacked bars, rotated category labels, a second value axis or a log scale: those
raise ChartUnreadable with a Chinese note, never guessed numbers. Asks no model.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image

from rag.documents import chart_marks as marks
from rag.documents.chart_table import Cell, ChartTable, estimate_digits
from rag.documents.chart_text import (Axis, Word, box_from_ticks, name_from_title, roles, snapped, unit_of, value_axis,
                                      word_from)
from rag.documents.ocr import OcrError, TextLine
from rag.errors import RagError

LABEL_AGREES = 0.08  # of the axis range: a data label further than this from its mark is a misread
MIN_WIDTH = 900  # px: smaller charts are enlarged before OCR (small digits read badly)
MAX_CATEGORIES = 40
CATEGORY_REACH = 0.6  # of the category spacing: a bar further from every category is not one of them
UNREAD_SHARE = 0.25  # a colour this large beside the read series, itself neither bars nor a line: refuse

NO_TEXT = "图表中没有识别出文字，读不出数值。"
NO_AXIS = ("没有找到数值坐标轴（一列或一行等距的刻度数字）：这可能是饼图、屏幕照片或没有刻度的图表。"
           "为避免猜测，不给出任何数值。")
NO_CATEGORIES = "找到了数值坐标轴，但没有找到类别标签（例如横轴下的年份或名称），无法把数值对应到类别。"
NO_MARKS = "找到了坐标轴和类别，但没有量出柱子或折线，图上也没有可配对的数据标签。"
UNKNOWN_MARKS = "图中有无法识别的图形（例如 K 线图、堆积柱状图或散点），无法逐项读数。"
TOO_DENSE = "类别太多（超过 {n} 个），无法逐项读数。"
UNNAMED = "数值"  # a lone series without a legend entry (named after the title where there is one)

Recognise = Callable[[Image.Image], list[TextLine]]


class ChartUnreadable(RagError):
    """Not a chart this reader can turn into numbers; the message says why, in Chinese."""


def read_chart(image: Image.Image | bytes, recognise: Recognise | None = None) -> ChartTable:
    """The chart's table. Raises ChartUnreadable (a Chinese note) for a chart it cannot read,
    OcrError for bytes that are not an image. `recognise` defaults to the product's OCR."""
    if recognise is None:
        from rag.documents.ocr import recognise_lines as recognise
    picture = _picture(image)
    if picture.width < MIN_WIDTH:
        picture = picture.resize((MIN_WIDTH, round(picture.height * MIN_WIDTH / picture.width)), Image.BICUBIC)
    return table_from(np.asarray(picture), [word_from(line) for line in recognise(picture)])


def table_from(rgb: np.ndarray, words: list[Word]) -> ChartTable:
    """The table from an RGB array and its OCR words (in that array's pixels)."""
    if not words:
        raise ChartUnreadable(NO_TEXT)
    axis = value_axis(words)
    if axis is None:
        raise ChartUnreadable(NO_AXIS)
    box = marks.axes_box(rgb) or box_from_ticks(axis, words, rgb)
    axis = snapped(axis, rgb, box)
    found = roles(words, axis, box)
    if not found.categories:
        raise ChartUnreadable(NO_CATEGORIES)
    if len(found.categories) > MAX_CATEGORIES:
        raise ChartUnreadable(TOO_DENSE.format(n=MAX_CATEGORIES))
    kind, series, rows, notes = _measure(rgb, axis, box, found.categories, found.labels, found.legend)
    title = " ".join(w.text for w in found.title)
    if series == [UNNAMED]:
        series = [name_from_title(title)]
    return ChartTable(kind=kind, title=title, unit=unit_of(found.title, words, axis),
                      categories=[w.text for w in found.categories], series=series, rows=rows, axis=axis.ticks_within(box),
                      notes=notes)


def _measure(rgb, axis: Axis, box: marks.Box, categories: list[Word], labels: list[Word],
             legend: list[Word]) -> tuple[str, list[str], list[list[Cell | None]], list[str]]:
    """(kind, series names, rows of cells, notes): the marks of every series colour, paired
    with the data labels."""
    upright = axis.vertical
    frame = rgb if upright else np.ascontiguousarray(rgb.transpose(1, 0, 2))
    fbox = box if upright else box.transposed()
    positions = [w.cx if upright else w.cy for w in categories]
    spacing = float(np.median(np.diff(positions))) if len(positions) > 1 else (fbox.right - fbox.left) / 2
    zero = min(max(axis.pixel(0.0), fbox.top), fbox.bottom)  # where bars stand (the frame's edge if 0 is off-scale)
    reach = max(4.0, 0.015 * (fbox.bottom - fbox.top))
    low, high = axis.span
    digits = estimate_digits(high - low)

    found: list[tuple[tuple, str, dict[int, tuple[float, float]], int]] = []  # colour, kind, category → (col, row), pixels
    unread = []
    for colour in marks.series_colours(frame, fbox):
        mask = marks.inside(marks.colour_mask(frame, colour), fbox)
        total = int(mask.sum())
        standing = [b for b in marks.bars(mask) if _from_zero(b, zero) <= reach]
        if standing and sum(b.pixels for b in standing) >= 0.5 * total:
            points = {}
            for b in standing:
                j = int(np.argmin([abs(p - b.centre) for p in positions]))
                if abs(positions[j] - b.centre) > CATEGORY_REACH * spacing:
                    continue
                if j in points:
                    raise ChartUnreadable(UNKNOWN_MARKS)  # two bars of one colour at one category
                far = b.top - 0.5 if abs(b.top - zero) > abs(b.bottom - zero) else b.bottom + 0.5
                points[j] = (b.centre, far)
            found.append((colour, "bars", points, total))
            continue
        rows = marks.line_points(_without(mask, legend, upright), positions, spacing) if upright else None
        if rows is None:
            unread.append(total)
        else:
            found.append((colour, "line", {j: (positions[j], r) for j, r in enumerate(rows) if r is not None}, total))
    if unread and max(unread) >= UNREAD_SHARE * max([f[3] for f in found] or [0]):
        if found or not labels:
            raise ChartUnreadable(UNKNOWN_MARKS)
    if not found:
        return _labels_only(categories, labels, positions, spacing, upright)

    names, places = _series_names(rgb, [f[0] for f in found], legend)
    order = sorted(range(len(found)), key=lambda i: places[i])  # as the legend lists them
    found, names = [found[i] for i in order], [names[i] for i in order]
    rows: list[list[Cell | None]] = [[None] * len(found) for _ in categories]
    for s, (_, _, points, _) in enumerate(found):
        for j, (_, row) in points.items():
            rows[j][s] = Cell(axis.value(row), False, f"{axis.value(row):.{digits}f}")
    anchors = [(s, j, col, row, axis.value(row)) for s, f in enumerate(found) for j, (col, row) in f[2].items()]
    pairs, misread = _paired(labels, anchors, upright, LABEL_AGREES * (high - low))
    for label, value, (s, j, *_) in pairs:
        text = label.digits if value == label.number else ("-" if value < 0 else "") + label.digits.lstrip("-")
        rows[j][s] = Cell(value, True, text)
    notes = [f"有 {misread} 个数据标签与它旁边量出的位置不符（可能误读），那里用的是估算值。"] if misread else []
    kinds = {f[1] for f in found}
    kind = "line" if kinds == {"line"} else "bars and line" if len(kinds) > 1 else "bars" if upright else "horizontal bars"
    return kind, names, rows, notes


def _labels_only(categories, labels, positions, spacing, upright):
    """No colour marks (grey bars, say): each data label goes to the category it stands over."""
    rows: list[list[Cell | None]] = [[None] for _ in categories]
    for label in labels:
        along = label.cx if upright else label.cy
        j = int(np.argmin([abs(p - along) for p in positions]))
        if abs(positions[j] - along) <= CATEGORY_REACH * spacing and rows[j][0] is None:
            rows[j][0] = Cell(label.number, True, label.digits)
    if not any(r[0] for r in rows):
        raise ChartUnreadable(NO_MARKS)
    return "labels", [UNNAMED], rows, []


def _from_zero(bar: marks.Bar, zero: float) -> float:
    return min(abs(bar.top - 0.5 - zero), abs(bar.bottom + 0.5 - zero))


def _without(mask: np.ndarray, legend: list[Word], upright: bool) -> np.ndarray:
    """The mask with each legend entry's sample (left of its text) blanked out."""
    out = mask.copy()
    for w in legend:
        h = w.height
        left, top, right, bottom = (int(max(0, v)) for v in (w.left - 5 * h, w.top - h / 2, w.right, w.bottom + h / 2))
        if upright:
            out[top:bottom + 1, left:right + 1] = False
        else:
            out[left:right + 1, top:bottom + 1] = False
    return out


def _paired(labels: list[Word], anchors: list[tuple], upright: bool,
            agrees: float) -> tuple[list[tuple[Word, float, tuple]], int]:
    """Each data label with a mark end near its box whose measured value it agrees with
    (within `agrees`; a dropped minus sign is put back), closest pairs first, one to one; and
    how many labels sat by a mark but agreed with none (misread)."""
    options, near = [], set()
    for li, w in enumerate(labels):
        left, top, right, bottom = (w.left, w.top, w.right, w.bottom) if upright else (w.top, w.left, w.bottom, w.right)
        for ai, (_, _, col, row, estimate) in enumerate(anchors):
            distance = float(np.hypot(max(left - col, 0, col - right), max(top - row, 0, row - bottom)))
            if distance > 1.5 * w.height + 6:
                continue
            near.add(li)
            value = next((v for v in (w.number, -w.number) if abs(v - estimate) <= agrees), None)
            if value is not None:
                options.append((distance, li, ai, value))
    used_labels, used_anchors, pairs = set(), set(), []
    for _, li, ai, value in sorted(options):
        if li not in used_labels and ai not in used_anchors:
            used_labels.add(li)
            used_anchors.add(ai)
            pairs.append((labels[li], value, anchors[ai]))
    return pairs, len(near - {li for _, li, _, _ in options})


def _series_names(rgb: np.ndarray, colours: list[tuple], legend: list[Word]) -> tuple[list[str], list[tuple]]:
    """Each colour's legend text (the entry whose sample, left of the text, has that colour)
    and where the entry sits; unnamed colours come after the named ones."""
    names: list[str | None] = [None] * len(colours)
    places: list[tuple] = [(float("inf"), float("inf"), i) for i in range(len(colours))]
    for w in sorted(legend, key=lambda w: (w.top, w.left)):
        h = w.height
        sample = rgb[int(w.top):int(w.bottom) + 1, int(max(0, w.left - 4 * h)):int(w.left)]
        if not sample.size:
            continue
        counts = [int(marks.colour_mask(sample, c).sum()) for c in colours]
        best = int(np.argmax(counts))
        if counts[best] >= 3 and names[best] is None:
            names[best], places[best] = w.text, (w.top, w.left, best)
    if len(colours) == 1:
        return [names[0] or UNNAMED], places
    return [n or f"系列{i + 1}" for i, n in enumerate(names)], places


def _picture(image: Image.Image | bytes) -> Image.Image:
    if isinstance(image, (bytes, bytearray)):
        try:
            image = Image.open(io.BytesIO(image))
            image.load()
        except (OSError, Image.DecompressionBombError, ValueError) as exc:
            raise OcrError(f"not a readable PNG/JPEG image: {exc}") from exc
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")

