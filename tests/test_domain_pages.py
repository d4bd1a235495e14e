"""AppTest for the finance chart, medical Q&A and evaluation pages.

Endpoints come in through LEGAL_RAG_ENDPOINTS, as in production: the fake vision server for
the finance page (it answers with the sha256 of the image it decoded, so the test knows the
chart arrived intact) and the fake chat server where a text model reads the table read off the
chart (the real reader: rag/documents/chart.py, OCR included), the real embedded llama.cpp server
for the medical page.
"""
from __future__ import annotations

import hashlib
import io
import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from rag.answer.chart_qa import CHART_SYSTEM_PROMPT, DEFAULT_CHART_QUESTION, OCR_LABEL, SAMPLE_CHART, SAMPLE_CHARTS
from settings import ROOT, get_settings
from tests import charts
from tests.fakes import ANSWER, FakeOpenAI

FINANCE = str(ROOT / "pages" / "2_金融图表.py")
MEDICAL = str(ROOT / "pages" / "3_医疗问答.py")
EVALUATION = str(ROOT / "pages" / "4_模型评测.py")
OCR_TIMEOUT_S = 120  # the OCR engine loads and reads the chart on a loaded 2-core machine
REVENUE = {"2019": 120.0, "2020": 95.0, "2021": 140.0, "2022": 185.0, "2023": 230.0}  # ¥ million


@pytest.fixture(autouse=True)
def fresh_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LEGAL_RAG_DATA_DIR", str(tmp_path / "data"))
    st.cache_resource.clear()
    st.cache_data.clear()
    get_settings.cache_clear()
    yield
    st.cache_resource.clear()
    get_settings.cache_clear()


def use_endpoints(monkeypatch, **endpoints) -> None:
    monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", json.dumps(
        {name: e.model_dump(exclude_none=True) for name, e in endpoints.items()}))
    get_settings.cache_clear()


def revenue_chart() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
    ax.plot(list(REVENUE), list(REVENUE.values()), marker="o")
    ax.set_title("Revenue (RMB million)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


# ---------------------------------------------------------------- finance

def test_finance_chart_reaches_both_vision_models_intact(monkeypatch):
    png = revenue_chart()
    with FakeOpenAI(mode="vision") as fake:
        use_endpoints(monkeypatch, **{"finance-base": fake.endpoint, "finance-lora": fake.endpoint})
        at = AppTest.from_file(FINANCE, default_timeout=30).run()
        assert at.selectbox(key="fin_base").value == "finance-base"
        assert at.selectbox(key="fin_tuned").value == "finance-lora"
        assert not at.info  # vision endpoints are configured: no setup guidance
        at.file_uploader(key="fin_image").upload("revenue.png", png, "image/png")
        at.run()
        at.button(key="fin_run").click().run()
        assert not at.error, [e.value for e in at.error]
        assert texts(at).count(f"image bytes={len(png)} sha256={hashlib.sha256(png).hexdigest()}") == 2
        assert OCR_LABEL not in texts(at)
        body = fake.requests[0]
    assert body["messages"][0]["content"] == CHART_SYSTEM_PROMPT
    assert body["messages"][1]["content"][0]["text"] == DEFAULT_CHART_QUESTION


@pytest.mark.parametrize("name, data, message", [
    ("chart.png", b"%PDF-1.7 not a picture", "not a PNG or JPEG image"),
    ("chart.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "cannot be decoded"),
    ("chart.jpg", b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024), "images up to 10 MB"),
])
def test_finance_rejects_bad_uploads_with_a_reason(monkeypatch, name, data, message):
    with FakeOpenAI(mode="vision") as fake:
        use_endpoints(monkeypatch, **{"finance-base": fake.endpoint, "finance-lora": fake.endpoint})
        at = AppTest.from_file(FINANCE, default_timeout=30).run()
        at.file_uploader(key="fin_image").upload(name, data, "image/png")
        at.run()
        assert message in at.error[0].value  # said on upload, before anything is sent
        assert at.button(key="fin_run").disabled and not at.get("image")
        assert fake.requests == []


def test_finance_text_model_beside_a_vision_model_reads_the_charts_table(monkeypatch):
    with FakeOpenAI(mode="vision") as vision, FakeOpenAI() as chat:
        use_endpoints(monkeypatch, **{"finance-base": vision.endpoint, "legal": chat.endpoint})
        at = AppTest.from_file(FINANCE, default_timeout=OCR_TIMEOUT_S).run()
        at.selectbox(key="fin_tuned").set_value("legal")
        at.button(key="fin_run").click().run()  # nothing uploaded: the bundled sample chart
        assert not at.error, [e.value for e in at.error]
        sample = SAMPLE_CHART.read_bytes()
        assert f"image bytes={len(sample)} sha256={hashlib.sha256(sample).hexdigest()}" in texts(at)
        assert f"**legal（微调） · {OCR_LABEL}**" in texts(at)
        prompt = chat.requests[0]["messages"][-1]["content"]
    assert isinstance(prompt, str) and "<图表数据>" in prompt  # text, no image: the table read off the chart
    assert "单位：亿元" in prompt
    for year, value in REVENUE.items():  # every year beside its own value, not the axis ticks
        assert f"| {year} | {value:g} |" in prompt


def test_finance_without_vision_endpoints_explains_setup_and_answers_from_the_table(monkeypatch):
    with FakeOpenAI() as chat:
        use_endpoints(monkeypatch, legal=chat.endpoint)
        at = AppTest.from_file(FINANCE, default_timeout=OCR_TIMEOUT_S).run()
        guidance = at.info[0].value
        assert "需要视觉模型端点" in guidance and "docs/gpu.md" in guidance and '"kind": "vision"' in guidance
        assert "python -m server launch" in guidance and "python -m server merge" in guidance
        code = guidance.split("```bash")[1].split("```")[0]
        assert max(len(line) for line in code.splitlines()) <= 45  # fits the narrow layout without scrolling
        assert [s.key for s in at.selectbox] == ["fin_base"]  # one model: nothing to compare it with
        assert at.get("image")  # the sample chart is shown before anything is uploaded
        at.button(key="fin_run").click().run()
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        prompt = chat.requests[0]["messages"][-1]["content"]
    assert f"**legal · {OCR_LABEL}**" in texts(at)
    assert ANSWER in texts(at)
    assert "<图表数据>" in prompt and "| 2023 | 230 |" in prompt
    assert "**文本模型读到的图表数据表**" in texts(at)  # the table, under the answer
    assert "| 2020 | 95 | 下降 25 |" in texts(at)


def test_finance_second_sample_is_measured_two_series_marked_as_estimates(monkeypatch):
    with FakeOpenAI() as chat:
        use_endpoints(monkeypatch, legal=chat.endpoint)
        at = AppTest.from_file(FINANCE, default_timeout=OCR_TIMEOUT_S).run()
        at.radio(key="fin_sample").set_value(list(SAMPLE_CHARTS)[1]).run()
        at.button(key="fin_run").click().run()
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        prompt = chat.requests[0]["messages"][-1]["content"]
    assert "| 类别 | 营业收入 | 营业成本 |" in prompt and "| 2016 | ≈" in prompt
    assert "按坐标轴刻度量出" in texts(at)


def test_finance_unreadable_chart_gets_a_note_and_no_text_model_answer(monkeypatch):
    with FakeOpenAI() as chat:
        use_endpoints(monkeypatch, legal=chat.endpoint)
        at = AppTest.from_file(FINANCE, default_timeout=OCR_TIMEOUT_S).run()
        at.file_uploader(key="fin_image").upload("pie.png", charts.pie(), "image/png")
        at.run()
        at.button(key="fin_run").click().run()
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        assert chat.requests == []  # no guessed numbers: the text model is not asked
    note = at.warning[0].value
    assert "没有找到数值坐标轴" in note and "视觉模型" in note
    assert ANSWER not in texts(at)


# ---------------------------------------------------------------- medical

@pytest.mark.slow
def test_medical_page_answers_with_the_embedded_model(monkeypatch, embedded_endpoint):
    monkeypatch.setenv("LEGAL_RAG_DATASETS_DIR", str(ROOT.parent / "shared" / "data"))
    use_endpoints(monkeypatch, **{"medical-base": embedded_endpoint, "medical-lora": embedded_endpoint})
    at = AppTest.from_file(MEDICAL, default_timeout=60).run()
    assert "不构成医疗建议" in at.warning[0].value
    example = at.selectbox(key="med_example")
    assert len(example.options) > 1  # examples read from shared/data
    example.set_value(example.options[1]).run()
    assert at.text_area(key="med_question").value == example.options[1]
    at.button(key="med_ask").click().run(timeout=600)
    assert not at.error, [e.value for e in at.error]
    base, tuned = ("".join(m.value for m in column.markdown) for column in at.columns[-2:])
    # Both columns hold a real answer: a server that cuts the first stream short when the
    # second request arrives (llama-cpp-python's default) leaves one of them (nearly) empty.
    assert len(base) > 20 and len(tuned) > 20, (base, tuned)


def test_medical_page_without_examples_still_works(monkeypatch):
    with FakeOpenAI() as fake:
        use_endpoints(monkeypatch, **{"medical-base": fake.endpoint, "medical-lora": fake.endpoint})
        at = AppTest.from_file(MEDICAL, default_timeout=30).run()  # no LEGAL_RAG_DATASETS_DIR, as for users
        assert [b.key for b in at.selectbox] == ["med_base", "med_tuned"]  # no example box
        at.text_area(key="med_question").input("高血压患者能吃党参吗？").run()
        at.button(key="med_ask").click().run()
    assert not at.error
    assert len(at.expander) == 2 and at.expander[0].label == "推理过程"  # <think> kept out of the answer
    assert texts(at).count("根据《劳动法》第四十四条") == 2


def test_medical_page_with_only_the_embedded_model_says_what_to_connect(monkeypatch):
    with FakeOpenAI() as fake:  # stands in for the embedded server: the only endpoint, as on a fresh install
        use_endpoints(monkeypatch, embedded=fake.endpoint)
        at = AppTest.from_file(MEDICAL, default_timeout=30).run()
        guidance = at.info[0].value
        assert "对比需要一个微调模型端点" in guidance and "「`medical-lora`」" in guidance
        assert "python -m server merge" in guidance and "python -m server launch" in guidance
        assert "只用「fake」一个模型回答" in guidance  # the endpoint's label
        assert [b.key for b in at.selectbox] == ["med_base"]  # no second box offering the same model
        at.text_area(key="med_question").input("高血压患者能吃党参吗？").run()
        at.button(key="med_ask").click().run()
        assert not at.error, [e.value for e in at.error]
    assert len(fake.requests) == 1  # asked once, not compared with itself
    assert texts(at).count("根据《劳动法》第四十四条") == 1


def test_medical_base_and_fine_tuned_default_to_their_configured_endpoints(monkeypatch):
    with FakeOpenAI() as fake:
        use_endpoints(monkeypatch, **{"embedded": fake.endpoint, "medical-base": fake.endpoint,
                                      "medical-lora": fake.endpoint})
        at = AppTest.from_file(MEDICAL, default_timeout=30).run()
    assert (at.selectbox(key="med_base").value, at.selectbox(key="med_tuned").value) == ("medical-base", "medical-lora")
    assert "medical-base" not in at.selectbox(key="med_tuned").options
    assert not at.info


# ---------------------------------------------------------------- evaluation

def test_evaluation_page_runs_scores_and_judges(monkeypatch, tmp_path):
    verdict = {"A": {"计算基数主张": 6}, "B": {"计算基数主张": 9}, "胜者": "B"}
    answer = json.dumps(verdict, ensure_ascii=False)  # every model answers this; the judge parses it
    rows = [{"instruction": f"加班费问题{i}", "input": "", "output": answer if i else "完全不同的答案"}
            for i in range(3)]
    with FakeOpenAI(answer=answer) as fake:
        use_endpoints(monkeypatch, base=fake.endpoint, lora=fake.endpoint)
        at = AppTest.from_file(EVALUATION, default_timeout=60).run()
        assert at.radio(key="eval_source").options == ["上传文件"]  # no dataset folder configured
        at.file_uploader(key="eval_upload").upload(
            "overtime.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(), "application/json")
        at.multiselect(key="eval_endpoints").set_value(["base", "lora"])
        at.number_input(key="eval_max_new_tokens").set_value(64)
        at.run()
        at.button(key="eval_run").click().run()
        assert not at.error, [e.value for e in at.error]
        assert fake.requests[0]["max_tokens"] == 64 and len(fake.requests) == 6
        table = at.dataframe[0].value
        assert list(table.index) == ["base", "lora"] and table.loc["base", "n"] == 3
        assert 60 < table.loc["base", "rouge-1"] < 100  # 2 of 3 answers match their label exactly
        downloads = [b.key for b in at.get("download_button") if b.key.startswith("eval_dl")]
        assert len(downloads) == 3  # metrics + one predictions file per model
        at.selectbox(key="eval_judge").set_value("base")
        at.button(key="eval_judge_run").click().run()
        judged = at.dataframe[1].value
    first = judged.iloc[0].to_dict()
    assert first == {"维度": "计算基数主张", "base": 6.0, "lora": 9.0}
    assert (tmp_path / "data" / "eval" / "overtime" / "lora" / "generated_predictions.jsonl").exists()
