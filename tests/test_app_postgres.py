"""The app, unchanged, on the PostgreSQL store: one setting (LEGAL_RAG_DATABASE_URL) moves every
KB, document, vector and feedback entry into a real PostgreSQL + pgvector (pgserver), and
nothing of it lands in the data dir."""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from knowledge.builder import law_status
from rag.ingest import ingest_file
from rag.kb import KnowledgeBases
from rag.store.pg import PgLibrary
from settings import get_settings
from tests.browser import MAX_BYTES, STATUTES, TEST_KB, TEST_KB_FILES, app_data_dir, endpoints_json
from tests.fakes import FakeOpenAI
from tests.pg import drop_schema, pg_library_for
from tests.test_app import APP, CITING_ANSWER, QUESTION, TIMEOUT_S, ask, cited_titles, texts


@pytest.fixture
def pg_app(monkeypatch, tmp_path, pg_url, embedder):
    store = pg_library_for(pg_url, tmp_path)
    kb = KnowledgeBases(store, embedder, law_info=law_status).create(TEST_KB, "tests")
    for name in TEST_KB_FILES:
        ingest_file(kb, (STATUTES / name).read_bytes(), name, MAX_BYTES, source="tests")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "models").symlink_to(get_settings().models_dir, target_is_directory=True)
    monkeypatch.setenv("LEGAL_RAG_DEFAULT_KB", TEST_KB)
    monkeypatch.setenv("LEGAL_RAG_DATABASE_URL", pg_url)
    monkeypatch.setenv("LEGAL_RAG_DATABASE_SCHEMA", store.schema)
    with app_data_dir(monkeypatch, data_dir, embedder):
        yield store, data_dir
    drop_schema(store)


def test_app_asks_uploads_and_records_feedback_in_postgres(monkeypatch, pg_app, embedder):
    store, data_dir = pg_app
    annual_leave = (STATUTES / "paid_annual_leave_regs_2007.txt").read_bytes()
    with FakeOpenAI(answer=CITING_ANSWER) as fake:
        monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", endpoints_json(embedded=fake.endpoint))
        get_settings.cache_clear()
        at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
        assert not at.exception, [e.value for e in at.exception]
        assert "1 个文档 · 98 条法条" in texts(at.sidebar.caption)
        ask(at, QUESTION)
        assert any("第四十六条" in t for t in cited_titles(at)), cited_titles(at)
        assert [v.status for v in at.session_state.turns[-1].verified] == ["ok", "not_in_kb"]
        at.feedback[0].set_value(1).run()
        at.file_uploader(key="uploads").set_value([("年休假条例.txt", annual_leave, "text/plain")]).run()
        at.button(key="add_docs").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "2 个文档 · 108 条法条" in texts(at.sidebar.caption)
    assert re.search(r"年休假条例.txt：10 条", "\n".join(texts(at.sidebar.markdown)))

    # what the app wrote is in the database, seen by another library (another process or machine)
    other = KnowledgeBases(PgLibrary(store._db.url, store.schema, data_dir.parent / "other-cache"), embedder)
    assert sorted(d.file_name for d in other.open_stored(TEST_KB).documents()) == [*TEST_KB_FILES, "年休假条例.txt"]
    feedback = other.store.log("feedback").records()
    assert [(f["rating"], f["question"]) for f in feedback] == [("up", QUESTION)]
    assert not (data_dir / "feedback.jsonl").exists() and not (data_dir / "kbs").exists()
