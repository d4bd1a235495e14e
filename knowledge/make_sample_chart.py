"""Draw the finance page's bundled sample charts into knowledge/examples/.

Run once (python -m knowledge.make_sample_chart) and commit the PNGs; the page only reads them.
Known numbers, so the right answer is known:
- sample_revenue_chart.png: revenue rises every year except 2020, from 120 to 230 (亿元);
  bars carry their values, so the data labels alone can answer.
- sample_revenue_cost_chart.png, the harder one: revenue and cost 2016–2023 as two lines with
  a legend and no data labels, so every value has to be measured off the axis.
Needs matplotlib and a CJK font (Noto CJK on Debian: fonts-noto-cjk); the app does not.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent / "examples"
FONTS = ["Noto Sans CJK SC", "Noto Serif CJK SC", "Noto Sans Mono CJK SC"]
SIZE_IN, DPI = (6.4, 3.6), 100  # 640×360 px: small in the repo, large enough for OCR


@dataclass
class Sample:
    name: str
    path: Path
    title: str
    categories: list[str]
    series: dict[str, list[float]]  # name → values in category order
    axis_range: float  # the value axis as drawn, bottom to top


SAMPLES = [
    Sample("sample_revenue", EXAMPLES / "sample_revenue_chart.png", "某公司营业收入（2019—2023年，单位：亿元）",
           ["2019", "2020", "2021", "2022", "2023"], {"营业收入": [120, 95, 140, 185, 230]}, 230 * 1.2),
    Sample("sample_revenue_cost", EXAMPLES / "sample_revenue_cost_chart.png",
           "某公司营业收入与营业成本（2016—2023年，单位：亿元）",
           [str(y) for y in range(2016, 2024)],
           {"营业收入": [52, 61, 70, 64, 78, 95, 104, 121], "营业成本": [38, 45, 49, 53, 57, 66, 77, 83]}, 140),
]
REVENUE = dict(zip(SAMPLES[0].categories, SAMPLES[0].series["营业收入"]))  # 亿元
OUT = SAMPLES[0].path


def draw(out: Path = OUT) -> Path:
    """The first sample: bars with their values on top."""
    plt = _pyplot()
    sample = SAMPLES[0]
    fig, ax = plt.subplots(figsize=SIZE_IN, dpi=DPI)
    bars = ax.bar(list(REVENUE), list(REVENUE.values()), color="#3a6ea5", width=0.6)
    ax.bar_label(bars, labels=[f"{v}" for v in REVENUE.values()], padding=3, fontsize=12)
    ax.set_title(sample.title, fontsize=13)
    ax.set_xlabel("年份")
    ax.set_ylabel("营业收入（亿元）")
    ax.set_ylim(0, sample.axis_range)
    return _save(plt, fig, ax, out)


def draw_two_lines(out: Path = SAMPLES[1].path) -> Path:
    """The second sample: two lines, a legend, no data labels."""
    plt = _pyplot()
    sample = SAMPLES[1]
    fig, ax = plt.subplots(figsize=SIZE_IN, dpi=DPI)
    for (name, values), colour in zip(sample.series.items(), ["#3a6ea5", "#d9822b"]):
        ax.plot(sample.categories, values, marker="o", markersize=5, linewidth=2, color=colour, label=name)
    ax.set_title(sample.title, fontsize=13)
    ax.set_xlabel("年份")
    ax.set_ylabel("亿元")
    ax.set_ylim(0, sample.axis_range)
    ax.legend(loc="upper left", fontsize=10)
    return _save(plt, fig, ax, out)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = FONTS
    return plt


def _save(plt, fig, ax, out: Path) -> Path:
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw())
    print(draw_two_lines())
