"""Test charts drawn with matplotlib from known numbers, for tests/test_chart.py and
bench/charts.py: bars, horizontal bars, lines, two series, with and without data labels,
negative values, an axis that starts above zero, percentages, one low-resolution render; and
charts the reader must refuse (a pie, a candlestick, a photo of a screen). Nothing here ships.

Every case lists its categories in the order a reader sees them (left to right; top to bottom
for horizontal bars) and the values of each series in that order.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

FONTS = ["Noto Sans CJK SC", "Noto Serif CJK SC", "DejaVu Sans"]
COLOURS = ["#1f77b4", "#ff7f0e"]  # matplotlib's first two


@dataclass
class Case:
    name: str
    kind: str  # "bars" | "hbars" | "line"
    categories: list[str]
    series: dict[str, list[float]]  # name → values in category order
    labels: bool = False  # data labels drawn
    title: str = ""
    ylim: tuple[float, float] | None = None
    percent: bool = False
    dpi: int = 100
    size: tuple[float, float] = (6.4, 3.6)
    invert: bool = True  # horizontal bars: first category on top
    style: str = "default"  # a matplotlib style: grid lines or a tinted background instead of dark axes
    extra: dict = field(default_factory=dict)


YEARS = ["2019", "2020", "2021", "2022", "2023"]
REGIONS = ["华东", "华南", "华北", "西部", "东北"]
MONTHS = [f"{m}月" for m in range(1, 13)]

CASES = [
    Case("bars_labels", "bars", YEARS, {"营业收入": [86, 102, 97, 131, 158]}, labels=True,
         title="某银行营业收入（单位：亿元）"),
    Case("bars_estimated", "bars", REGIONS, {"销售额": [342, 287, 215, 168, 96]},
         title="各区域销售额（单位：万元）"),
    Case("bars_negative_labels", "bars", YEARS, {"净利润": [12.5, -8.2, 4.1, -3.6, 15.3]}, labels=True,
         title="某公司净利润（亿元）"),
    Case("bars_negative_estimated", "bars", ["Q1", "Q2", "Q3", "Q4"], {"现金流": [-45, 30, 62, -18]},
         title="季度经营现金流（单位：百万元）"),
    Case("bars_axis_from_80", "bars", YEARS, {"营业收入": [112, 96, 148, 185, 231]}, ylim=(80, 250),
         title="营业收入（单位：亿元）"),
    Case("hbars_labels", "hbars", ["银行", "证券", "保险", "信托", "基金"], {"资产规模": [380, 125, 260, 70, 190]},
         labels=True, title="各行业资产规模（单位：万亿元）"),
    Case("hbars_estimated", "hbars", ["招商", "平安", "兴业", "浦发"], {"净息差": [2.16, 1.87, 1.98, 1.52]},
         title="2023 年净息差（%）", invert=False),
    Case("line_labels", "line", YEARS, {"总资产": [210, 236, 251, 248, 279]}, labels=True,
         title="总资产（单位：亿元）"),
    Case("line_months", "line", MONTHS, {"成交额": [42, 48, 55, 51, 60, 66, 63, 71, 78, 74, 83, 90]},
         title="月度成交额（单位：亿元）", size=(8, 4)),
    Case("line_two_series", "line", YEARS, {"营业收入": [52, 61, 70, 66, 78], "营业成本": [31, 38, 44, 47, 50]},
         title="收入与成本（单位：亿元）"),
    Case("line_two_series_labels", "line", YEARS, {"A 股": [3.2, 3.6, 3.1, 2.8, 3.4], "港股": [2.1, 2.5, 2.9, 2.4, 2.2]},
         labels=True, title="股息率（%）"),
    Case("bars_two_series", "bars", YEARS, {"收入": [120, 135, 128, 150, 171], "支出": [98, 110, 121, 117, 129]},
         title="收入与支出（单位：亿元）"),
    Case("bars_two_series_labels", "bars", ["一季度", "二季度", "三季度", "四季度"],
         {"2022年": [35, 42, 38, 51], "2023年": [39, 47, 44, 58]}, labels=True, title="季度营收（单位：亿元）"),
    Case("line_axis_from_3", "line", YEARS, {"贷款利率": [4.35, 4.15, 3.85, 3.65, 3.45]}, ylim=(3.0, 4.6),
         percent=True, title="一年期贷款利率"),
    Case("bars_low_resolution", "bars", YEARS, {"营业收入": [64, 71, 88, 83, 102]}, labels=True,
         title="营业收入（单位：亿元）", dpi=50),
    Case("bars_ggplot_style", "bars", REGIONS, {"贷款余额": [512, 388, 446, 230, 175]},
         title="各区域贷款余额（单位：亿元）", style="ggplot"),
    Case("line_whitegrid_style", "line", YEARS, {"净息差": [2.2, 2.1, 1.95, 1.74, 1.69]},
         title="商业银行净息差（%）", style="seaborn-v0_8-whitegrid"),
    Case("line_two_series_low_resolution", "line", YEARS, {"存款": [48, 55, 61, 59, 66], "贷款": [35, 41, 50, 57, 63]},
         title="存贷款余额（单位：万亿元）", dpi=50),
]


def draw(case: Case) -> tuple[bytes, float]:
    """The case as a PNG, and the value axis' range as drawn (top minus bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.style.context(case.style):
        plt.rcParams["font.family"] = FONTS
        plt.rcParams["axes.unicode_minus"] = True
        return _drawn(case, plt)


def _drawn(case: Case, plt) -> tuple[bytes, float]:
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=case.size, dpi=case.dpi)
    names = list(case.series)
    n = len(names)
    width = 0.7 / n
    for i, (name, values) in enumerate(case.series.items()):
        offsets = [k + (i - (n - 1) / 2) * width for k in range(len(case.categories))]
        if case.kind == "bars":
            marks = ax.bar(offsets, values, width=width * 0.95, color=COLOURS[i], label=name)
        elif case.kind == "hbars":
            marks = ax.barh(offsets, values, height=width * 0.95, color=COLOURS[i], label=name)
        else:
            marks = None
            ax.plot(range(len(case.categories)), values, marker="o", markersize=5, color=COLOURS[i], label=name)
        if case.labels and marks is not None:
            ax.bar_label(marks, labels=[f"{v:g}" for v in values], padding=2, fontsize=10)
        elif case.labels:
            for k, v in enumerate(values):
                ax.annotate(f"{v:g}", (k, v), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=10)
    if case.kind == "hbars":
        ax.set_yticks(range(len(case.categories)), case.categories)
        if case.invert:
            ax.invert_yaxis()
    else:
        ax.set_xticks(range(len(case.categories)), case.categories)
    if case.ylim:
        ax.set_ylim(*case.ylim)
    elif case.labels and case.kind != "hbars":
        ax.margins(y=0.15)
    if case.percent:
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    if any(v < 0 for values in case.series.values() for v in values):
        (ax.axvline if case.kind == "hbars" else ax.axhline)(0, color="black", linewidth=0.8)
    if n > 1:
        ax.legend(loc="upper left", fontsize=9)
    ax.set_title(case.title, fontsize=12)
    low, high = ax.get_xlim() if case.kind == "hbars" else ax.get_ylim()
    return _png(fig), abs(high - low)


def expected(case: Case) -> tuple[list[str], dict[str, list[float]]]:
    """Categories and values in the order the chart shows them."""
    if case.kind == "hbars" and not case.invert:
        return case.categories[::-1], {k: v[::-1] for k, v in case.series.items()}
    return case.categories, case.series


def pie() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = FONTS
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.pie([45, 25, 20, 10], labels=["存款", "理财", "基金", "保险"], autopct="%1.0f%%")
    ax.set_title("资产配置（%）")
    return _png(fig)


def candlestick() -> bytes:
    """Sixty trading days of open/high/low/close, red up and green down, as Chinese charts draw them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plt.rcParams["font.family"] = FONTS
    rng = np.random.default_rng(7)
    close = 3000 + np.cumsum(rng.normal(0, 25, 60))
    open_ = close + rng.normal(0, 15, 60)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for k, (o, c) in enumerate(zip(open_, close)):
        colour = "#d62728" if c >= o else "#2ca02c"
        ax.vlines(k, min(o, c) - abs(rng.normal(0, 12)), max(o, c) + abs(rng.normal(0, 12)), color=colour, linewidth=1)
        ax.bar(k, abs(c - o) or 1, bottom=min(o, c), color=colour, width=0.6)
    ax.set_xticks(range(0, 60, 10), [f"3月{d}日" for d in range(1, 61, 10)])
    ax.set_title("上证指数日K线")
    return _png(fig)


def photo_of_screen() -> bytes:
    """The first bar chart as if photographed: tilted, blurred, unevenly lit, with sensor noise."""
    import numpy as np
    from PIL import Image, ImageFilter

    chart = Image.open(io.BytesIO(draw(CASES[0])[0])).convert("RGB")
    tilted = chart.rotate(9, resample=Image.BICUBIC, expand=True, fillcolor=(60, 60, 70)).filter(ImageFilter.GaussianBlur(1.6))
    pixels = np.asarray(tilted).astype(float)
    light = np.linspace(0.55, 1.05, pixels.shape[1])[None, :, None]
    noisy = pixels * light + np.random.default_rng(3).normal(0, 14, pixels.shape)
    out = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype("uint8")).save(out, format="JPEG", quality=70)
    return out.getvalue()


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
