"""The chart reader (rag/documents/chart.py) on charts drawn from known numbers (tests/charts.py)
and on the bundled samples, through the real OCR: categories in order, every value within 3%
of the value axis' range; charts it cannot read are refused with a Chinese note. And the
finance question's plan (rag/answer/chart_qa.py): what a text and a vision endpoint are sent."""
from __future__ import annotations

import pytest

from knowledge.make_sample_chart import SAMPLES
from rag.answer.chart_qa import OCR_LABEL, SAMPLE_CHARTS, TABLE_PROMPT, chart_prompts
from rag.documents.chart import ChartUnreadable, read_chart
from tests import charts

TOLERANCE = 0.03  # of the value axis' drawn range

CHARTS = [pytest.param(*charts.draw(c), *charts.expected(c), id=c.name) for c in charts.CASES]
CHARTS += [pytest.param(s.path.read_bytes(), s.axis_range, s.categories, s.series, id=s.name) for s in SAMPLES]


def column(table, name: str, index: int) -> int:
    names = [n.replace(" ", "") for n in table.series]
    return names.index(name.replace(" ", "")) if name.replace(" ", "") in names else index


@pytest.mark.slow
@pytest.mark.parametrize("png, axis_range, categories, series", CHARTS)
def test_reads_categories_in_order_and_values_within_3_percent(png, axis_range, categories, series):
    table = read_chart(png)
    assert table.categories == categories
    assert len(table.series) == len(series)
    for index, (name, truth) in enumerate(series.items()):
        read = table.values(column(table, name, index))
        off = [abs(r - t) / axis_range for r, t in zip(read, truth) if r is not None]
        assert len(off) == len(truth) and max(off) <= TOLERANCE, (name, read, truth)


@pytest.mark.slow
def test_the_bundled_sample_is_read_from_its_labels_with_the_trend_stated():
    table = read_chart(SAMPLES[0].path.read_bytes())
    assert table.unit == "亿元" and table.kind == "bars"
    assert [c.text for c, in table.rows] == ["120", "95", "140", "185", "230"]
    assert all(c.from_label for c, in table.rows)  # the printed numbers, not measurements
    text = table.markdown()
    assert "| 2020 | 95 | 下降 25 |" in text and "| 2023 | 230 | 上升 45 |" in text
    assert "2019：120，2020：95，2021：140，2022：185，2023：230（单位：亿元）" in text
    assert "升至 2023 的 230" in text and "转折点：2020（由降转升）" in text and "最高 2023（230）" in text


@pytest.mark.slow
def test_the_harder_sample_names_both_series_and_marks_every_value_as_estimated():
    table = read_chart(SAMPLES[1].path.read_bytes())
    assert table.series == ["营业收入", "营业成本"] and table.kind == "line"
    assert all(not c.from_label for row in table.rows for c in row)
    assert "≈" in table.markdown() and "按坐标轴刻度量出" in table.markdown()


@pytest.mark.slow
@pytest.mark.parametrize("draw, why", [(charts.pie, "没有找到数值坐标轴"), (charts.candlestick, "无法识别的图形"),
                                       (charts.photo_of_screen, "没有找到数值坐标轴")], ids=["pie", "candlestick", "photo"])
def test_charts_it_cannot_read_are_refused_with_a_chinese_note(draw, why):
    with pytest.raises(ChartUnreadable, match=why):
        read_chart(draw())


@pytest.mark.slow
def test_a_text_endpoint_gets_the_table_and_a_vision_endpoint_the_image():
    png = SAMPLE_CHARTS[next(iter(SAMPLE_CHARTS))].read_bytes()
    calls = []

    def read(image):  # the reader is handed in; this one counts calls and reads for real
        calls.append(image)
        return read_chart(image)

    plan = chart_prompts({"vl": "vision", "legal": "chat"}, png, "image/png", "趋势如何？", read)
    assert len(calls) == 1 and plan.table is not None and not plan.unreadable
    text = plan.prompts["legal"].messages[-1]["content"]
    assert text.startswith(TABLE_PROMPT.split("{")[0]) and "| 2019 | 120 |" in text and "趋势如何？" in text
    assert plan.prompts["vl"].messages[-1]["content"][1]["type"] == "image_url"
    assert plan.prompts["legal"].from_ocr and not plan.prompts["vl"].from_ocr
    assert OCR_LABEL  # the page's label for the text model's answer


def test_an_unreadable_chart_is_not_given_to_a_text_model_but_still_to_a_vision_model():
    def unreadable(image):
        raise ChartUnreadable("没有找到数值坐标轴。")

    plan = chart_prompts({"vl": "vision", "legal": "chat"}, b"png", "image/png", "占比多少？", unreadable)
    assert list(plan.prompts) == ["vl"] and plan.left_out == ["legal"]
    assert plan.unreadable.startswith("没有找到数值坐标轴。") and "视觉模型" in plan.unreadable
    assert chart_prompts({"vl": "vision"}, b"png", "image/png", "?", unreadable).unreadable == ""  # not read at all
