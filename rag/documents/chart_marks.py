"""What a chart draws, measured in pixels with OpenCV: the axes box and its tick marks, the
colours of the data series, bars and the points of a line.

Everything here works on an RGB array in one frame, where the value axis runs down the rows
and categories run along the columns (a vertical bar or line chart). A horizontal bar chart is
measured in the same frame by transposing its image first (rag/documents/chart.py does that).

Does not: read text or turn pixels into values (chart.py fits the tick scale), find stacked
bars, areas, dashed or marker-only lines, or series drawn in grey or black (they are left
for the data labels to carry).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DARK_MAX = 170  # axis lines and tick marks: every channel below this (thin lines antialias to grey)…
DARK_SPREAD = 40  # …and little colour (text antialiasing and coloured marks excluded)
SPINE_SHARE = 0.3  # an axis line runs at least this share of the image
PAPER_DIFFERENCE = 10  # a pixel this far from the figure's background colour is drawn on it
SERIES_MIN_SATURATION = 50  # OpenCV HSV, 0–255: grid, text and background are below this
SERIES_MIN_VALUE = 50
HUE_MERGE = 8  # OpenCV hue, 0–180: colours this close in hue are one series
COLOUR_MATCH = 60  # RGB distance: a pixel within this of a series colour belongs to it
SERIES_MIN_SHARE = 0.002  # of the axes area: fewer pixels are antialiasing or a legend patch
BAR_FILL = 0.85  # a bar is a component filling this much of its bounding box
LINE_MIN_SPAN = 1.2  # a line component spans at least this many category spacings


@dataclass
class Box:
    left: int
    top: int
    right: int
    bottom: int

    def transposed(self) -> "Box":
        return Box(self.top, self.left, self.bottom, self.right)


@dataclass
class Bar:
    lo: int  # first and last column
    hi: int
    top: int  # first and last row
    bottom: int
    pixels: int

    @property
    def centre(self) -> float:
        return (self.lo + self.hi) / 2


def dark_mask(rgb: np.ndarray) -> np.ndarray:
    spread = rgb.max(axis=2).astype(int) - rgb.min(axis=2)
    return ((rgb.max(axis=2) < DARK_MAX) & (spread < DARK_SPREAD)).astype(np.uint8)


def axes_box(rgb: np.ndarray) -> Box | None:
    """The axes' frame from its lines: the leftmost long vertical and the lowest long horizontal
    dark line (the top and right ones where drawn). None when there are no such lines."""
    import cv2

    height, width = rgb.shape[:2]
    dark = dark_mask(rgb)
    across = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(
        cv2.MORPH_RECT, (max(10, int(width * SPINE_SHARE)), 1)))
    down = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(
        cv2.MORPH_RECT, (1, max(10, int(height * SPINE_SHARE)))))
    rows = [s for s in _components(across) if s[2] >= width * SPINE_SHARE]
    cols = [s for s in _components(down) if s[3] >= height * SPINE_SHARE]
    if not rows or not cols:
        return None
    low = max(rows, key=lambda s: s[1] + s[3])
    left = min(cols, key=lambda s: s[0])
    right = max(cols, key=lambda s: s[0])
    top = min(rows, key=lambda s: s[1])
    box = Box(left=left[0] + left[2] - 1, top=min(left[1], top[1] + top[3] - 1),
              right=right[0] if right[0] > left[0] + width * SPINE_SHARE else low[0] + low[2] - 1,
              bottom=low[1])
    return box if box.right - box.left > 20 and box.bottom - box.top > 20 else None


def long_lines(rgb: np.ndarray) -> tuple[list[float], list[float]]:
    """Rows and columns where something other than the figure's background runs across
    SPINE_SHARE of the image: grid lines, light axis lines, a tinted axes background. For
    charts without dark axis lines (seaborn, ggplot styles, spreadsheet exports)."""
    import cv2

    height, width = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(int)
    keys, counts = np.unique(border // 4, axis=0, return_counts=True)
    paper = keys[counts.argmax()] * 4 + 2  # the figure's own background, white or tinted
    marked = (np.abs(rgb.astype(int) - paper).max(axis=2) > PAPER_DIFFERENCE).astype(np.uint8)
    across = cv2.morphologyEx(marked, cv2.MORPH_CLOSE, np.ones((1, 5), np.uint8))  # white grid lines
    across = cv2.morphologyEx(across, cv2.MORPH_OPEN, cv2.getStructuringElement(
        cv2.MORPH_RECT, (max(10, int(width * SPINE_SHARE)), 1)))
    down = cv2.morphologyEx(marked, cv2.MORPH_CLOSE, np.ones((5, 1), np.uint8))
    down = cv2.morphologyEx(down, cv2.MORPH_OPEN, cv2.getStructuringElement(
        cv2.MORPH_RECT, (1, max(10, int(height * SPINE_SHARE)))))
    rows = [float(r) for r in np.flatnonzero(across.any(axis=1))]
    cols = [float(c) for c in np.flatnonzero(down.any(axis=0))]
    return rows, cols


def tick_marks(rgb: np.ndarray, box: Box, along_rows: bool) -> list[float]:
    """Positions of the short dark marks outside the axes (matplotlib's ticks): rows left of the
    left axis line (along_rows) or columns below the bottom one."""
    dark = dark_mask(rgb)
    if along_rows:
        strip = dark[:, max(0, box.left - 4):max(0, box.left - 1)]
        hits = strip.all(axis=1) if strip.shape[1] else np.zeros(0, bool)
    else:
        strip = dark[box.bottom + 2:box.bottom + 5, :]
        hits = strip.all(axis=0) if strip.shape[0] else np.zeros(0, bool)
    return [(a + b) / 2 for a, b in _runs(np.flatnonzero(hits))]


def series_colours(rgb: np.ndarray, box: Box) -> list[tuple[int, int, int]]:
    """The colours that fill a visible share of the axes, most pixels first (grey, black and
    white are not series colours)."""
    import cv2

    region = np.ascontiguousarray(rgb[box.top + 2:box.bottom - 1, box.left + 2:box.right - 1])
    if region.size == 0:
        return []
    hsv = cv2.cvtColor(region, cv2.COLOR_RGB2HSV)
    coloured = (hsv[..., 1] >= SERIES_MIN_SATURATION) & (hsv[..., 2] >= SERIES_MIN_VALUE)
    pixels, hues = region[coloured].astype(int), hsv[..., 0][coloured].astype(int)
    if not len(pixels):
        return []
    # One series per hue: antialiased edges blend a colour with the white or grey under it,
    # which keeps its hue, so they join their series instead of becoming one of their own.
    counts = np.bincount(hues, minlength=180)
    peaks: list[list[int]] = []  # [hue, pixels]
    for hue in np.argsort(counts)[::-1]:
        if counts[hue] == 0:
            break
        near = next((p for p in peaks if min(abs(p[0] - hue), 180 - abs(p[0] - hue)) <= HUE_MERGE), None)
        if near:
            near[1] += int(counts[hue])
        else:
            peaks.append([int(hue), int(counts[hue])])
    least = max(30, SERIES_MIN_SHARE * region.shape[0] * region.shape[1])
    colours = []
    for hue, n in peaks:
        if n < least:
            continue
        member = np.minimum(np.abs(hues - hue), 180 - np.abs(hues - hue)) <= HUE_MERGE
        q = pixels[member] // 8  # the commonest colour of the hue: the fill, not its blended edge
        keys = q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2]
        key = int(np.bincount(keys).argmax())
        colours.append((key // 1024 * 8 + 4, key // 32 % 32 * 8 + 4, key % 32 * 8 + 4))
    return colours


def colour_mask(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    distance = np.linalg.norm(rgb.astype(np.int32) - np.array(colour), axis=2)
    return distance <= COLOUR_MATCH


def inside(mask: np.ndarray, box: Box) -> np.ndarray:
    out = np.zeros_like(mask)
    out[box.top + 1:box.bottom, box.left + 1:box.right] = mask[box.top + 1:box.bottom, box.left + 1:box.right]
    return out


def bars(mask: np.ndarray) -> list[Bar]:
    """Filled upright rectangles in a series mask (thin lines and text are opened away)."""
    import cv2

    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return [Bar(x, x + w - 1, y, y + h - 1, area) for x, y, w, h, area in _components(opened)
            if w >= 3 and h >= 2 and area >= BAR_FILL * w * h]


def line_points(mask: np.ndarray, columns: list[float], spacing: float) -> list[float | None] | None:
    """The row of a drawn line at each column (None where nothing is drawn), or None when the
    mask holds no line: no component spanning LINE_MIN_SPAN category spacings."""
    import cv2

    joined = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))  # bridge a crossing line
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    long = [i for i in range(1, n) if stats[i, cv2.CC_STAT_WIDTH] >= LINE_MIN_SPAN * spacing]
    if not long:
        return None
    line = np.isin(labels, long) & mask.astype(bool)
    rows = []
    for c in columns:
        c = int(round(c))
        hit = line[:, max(0, c - 1):c + 2].any(axis=1)
        runs = _runs(np.flatnonzero(hit))
        rows.append(None if not runs else (lambda r: (r[0] + r[1]) / 2)(max(runs, key=lambda r: r[1] - r[0])))
    return rows


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [tuple(int(v) for v in stats[i]) for i in range(1, n)]


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive integers grouped: [3,4,5,9] → [(3,5), (9,9)]."""
    if not len(indices):
        return []
    breaks = np.flatnonzero(np.diff(indices) > 1)
    starts = np.r_[indices[0], indices[breaks + 1]]
    ends = np.r_[indices[breaks], indices[-1]]
    return [(int(a), int(b)) for a, b in zip(starts, ends)]
