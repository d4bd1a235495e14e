"""Questions about a chart image, for the finance page: the image to a vision endpoint; to a
text-only endpoint, the chart's OCR'd text instead, so the page works without a vision model.

A text model never sees the picture: its answer rests on the words and numbers OCR found
(the layout is lost, axis ticks may sit beside data labels), and the page labels it with
OCR_LABEL. `chart_prompts` takes the endpoints' kinds and an OCR function, so a test or the
CLI can hand in others; OCR runs once, and only when a text endpoint needs it.

Does not: send anything (the caller streams each prompt with its ChatClient), check the image
(server.images.check_image does), or judge whether an answer reads the chart correctly.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rag.errors import RagError
from server.client import image_message

SAMPLE_CHART = Path(__file__).resolve().parents[2] / "knowledge" / "examples" / "sample_revenue_chart.png"
CHART_SYSTEM_PROMPT = ("你是一名金融分析师。请仔细阅读图表：说明指标、期间和单位，引用能读出的数值，准确描述整体趋势"
                       "及其转折点；读不出的数值要如实说明。")
DEFAULT_CHART_QUESTION = "描述图表中营业收入的整体变化趋势，指出转折点，并给出读到的数值。"
OCR_LABEL = "基于图表 OCR 文本的回答（非视觉模型）"
OCR_PROMPT = ("下面是一张图表经 OCR 识别出的文字（你看不到图片本身）。版面已丢失：坐标轴刻度可能和数据标签混在同一行，"
              "请结合标题、年份和数值判断各数字的含义；只依据这些文字回答，无法确定的数值要说明。\n\n"
              "<图表文字>\n{text}\n</图表文字>\n\n问题：{question}")


class ChartTextMissing(RagError):
    """OCR found no text in the chart, so a text-only model has nothing to read."""


@dataclass
class ChartPrompt:
    messages: list[dict]
    from_ocr: bool  # True: the model reads the chart's OCR'd text, not the image


def chart_prompts(kinds: dict[str, str], image: bytes, mime: str, question: str,
                  recognise: Callable[[bytes], str], system: str = CHART_SYSTEM_PROMPT) -> tuple[dict[str, ChartPrompt], str]:
    """One prompt per endpoint name in `kinds` (name → "vision" | "chat") and the OCR'd text
    ("" when no text endpoint needed it). Raises ChartTextMissing when OCR finds nothing."""
    text = ""
    if any(kind != "vision" for kind in kinds.values()):
        text = recognise(image).strip()
        if not text:
            raise ChartTextMissing("图表中没有识别出文字，文本模型无从回答：请上传带数值标注的清晰图表，或连接视觉模型"
                                   "（见 docs/gpu.md）。/ OCR found no text in the chart; a text model cannot answer.")
    prompts = {}
    for name, kind in kinds.items():
        if kind == "vision":
            user = image_message(question, image, mime)
        else:
            user = {"role": "user", "content": OCR_PROMPT.format(text=text, question=question)}
        prompts[name] = ChartPrompt([{"role": "system", "content": system}, user], kind != "vision")
    return prompts, text
