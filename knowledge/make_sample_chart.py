"""Draw the finance page's bundled sample chart, knowledge/examples/sample_revenue_chart.png.

Run once (python -m knowledge.make_sample_chart) and commit the PNG; the page only reads it.
Known numbers, so the right answer is known: revenue rises every year except 2020, from
120 to 230 (亿元). Bars carry their values, so the chart's OCR'd text alone can answer.
Needs matplotlib and a CJK font (Noto CJK on Debian: fonts-noto-cjk); the app does not.
"""
from __future__ import annotations

from pathlib import Path

REVENUE = {"2019": 120, "2020": 95, "2021": 140, "2022": 185, "2023": 230}  # 亿元
TITLE = "某公司营业收入（2019—2023年，单位：亿元）"
OUT = Path(__file__).resolve().parent / "examples" / "sample_revenue_chart.png"
FONTS = ["Noto Sans CJK SC", "Noto Serif CJK SC", "Noto Sans Mono CJK SC"]
SIZE_IN, DPI = (6.4, 3.6), 100  # 640×360 px: small in the repo, large enough for OCR


def draw(out: Path = OUT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = FONTS
    fig, ax = plt.subplots(figsize=SIZE_IN, dpi=DPI)
    bars = ax.bar(list(REVENUE), list(REVENUE.values()), color="#3a6ea5", width=0.6)
    ax.bar_label(bars, labels=[f"{v}" for v in REVENUE.values()], padding=3, fontsize=12)
    ax.set_title(TITLE, fontsize=13)
    ax.set_xlabel("年份")
    ax.set_ylabel("营业收入（亿元）")
    ax.set_ylim(0, max(REVENUE.values()) * 1.2)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw())
