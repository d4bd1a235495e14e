"""Questions about a chart image, for the finance page: the image to a vision endpoint; to a
text-only endpoint, the table the chart reader made of it (rag/documents/chart.py), so the
page works without a vision model.

A text model never sees the picture: it gets category → value per series, the unit, and
which values were read from data labels and which were measured off the axis (≈), and the
page labels its answer with OCR_LABEL and shows the table under it. A chart the reader cannot
read (a pie, a photo, a candlestick) is not given to a text model at all: the plan says why
in Chinese, and only vision endpoints answer. `chart_prompts` takes the endpoints' kinds and
a reader function, so a test or the CLI can hand in others; the chart is read once, and only
when a text endpoint needs it.

Does not: send anything (the caller streams each prompt with its ChatClient), check the image
(server.images.check_image does), or judge whether an answer reads the chart correctly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag.documents.chart import ChartUnreadable
from rag.documents.chart_table import ChartTable
from server.client import image_message

EXAMPLES = Path(__file__).resolve().parents[2] / "knowledge" / "examples"
SAMPLE_CHART = EXAMPLES / "sample_revenue_chart.png"
SAMPLE_CHARTS = {  # caption → file (knowledge/make_sample_chart.py draws them from known numbers)
    "示例一：某公司营业收入（柱状图，带数据标签）": SAMPLE_CHART,
    "示例二：营业收入与营业成本（两条折线，无数据标签，数值需按刻度估算）": EXAMPLES / "sample_revenue_cost_chart.png",
}
CHART_SYSTEM_PROMPT = ("你是一名金融分析师。请仔细阅读图表：说明指标、期间和单位，引用能读出的数值，准确描述整体趋势"
                       "及其转折点；读不出的数值要如实说明。")
DEFAULT_CHART_QUESTION = "描述图表中营业收入的整体变化趋势，指出转折点，并给出读到的数值。"
OCR_LABEL = "基于从图表读出的数据表（OCR 与图形测量，非视觉模型）"
TABLE_PROMPT = ("下面是程序从一张图表中读出的数据（你看不到图片本身）。不带 ≈ 的数值读自图上的数据标签，"
                "带 ≈ 的数值按坐标轴刻度估算。\n\n<图表数据>\n{table}\n</图表数据>\n\n问题：{question}\n\n"
                "请按下面三部分回答，只使用数据中的数值，不要自己计算新的数值：\n"
                "1. 各项数值：按顺序写出全部 {count} 个类别的数值和单位，一个都不要漏；\n"
                "2. 整体趋势：以数据下方的汇总为准；\n"
                "3. 转折点：以数据下方的汇总为准。")
NOT_FOR_TEXT = "文本模型只能读从图表中读出的数据表，这次不让它回答，以免给出猜测的数字。分析这类图表请连接视觉模型（见 docs/gpu.md）。"


@dataclass
class ChartPrompt:
    messages: list[dict]
    from_ocr: bool  # True: the model reads the table read off the chart, not the image


@dataclass
class ChartPlan:
    prompts: dict[str, ChartPrompt]  # the endpoints that answer
    table: ChartTable | None = None  # what the text endpoints read (None when none needed it)
    unreadable: str = ""  # why the chart could not be read for the text endpoints (Chinese)
    left_out: list[str] = field(default_factory=list)  # text endpoints that do not answer because of it


def chart_prompts(kinds: dict[str, str], image: bytes, mime: str, question: str,
                  read: Callable[[bytes], ChartTable], system: str = CHART_SYSTEM_PROMPT) -> ChartPlan:
    """The prompt of each endpoint name in `kinds` (name → "vision" | "chat") that can answer:
    a vision endpoint gets the image; a text endpoint the chart's table, or nothing when
    `read` raises ChartUnreadable (then the plan says why and names it in left_out)."""
    plan = ChartPlan({})
    text_endpoints = [name for name, kind in kinds.items() if kind != "vision"]
    if text_endpoints:
        try:
            plan.table = read(image)
        except ChartUnreadable as e:
            plan.unreadable, plan.left_out = f"{e} {NOT_FOR_TEXT}", text_endpoints
    for name, kind in kinds.items():
        if kind == "vision":
            user = image_message(question, image, mime)
        elif plan.table is not None:
            user = {"role": "user", "content": TABLE_PROMPT.format(table=plan.table.markdown(), question=question,
                                                                   count=len(plan.table.categories))}
        else:
            continue
        plan.prompts[name] = ChartPrompt([{"role": "system", "content": system}, user], kind != "vision")
    return plan
