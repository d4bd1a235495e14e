# Over 400 lines: the store contract, run once per implementation (LanceDB, PostgreSQL).
"""The storage contract of rag/store/base.py, run on both stores: LanceDB folders and PostgreSQL +
pgvector (a real server, tests/pg.py). Small synthetic rows (8-dim vectors, labour-law text):
no embedder at this level. Child processes (forkserver) open the same library from a recipe."""
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time

import pytest

from rag.errors import KnowledgeBaseError
from rag.store.base import WRITE_WAIT_MESSAGE, DocumentInfo, DuplicateDocument

DIM = 8
KB = "劳动法规"
META = {"name": KB, "description": "劳动合同法与实施条例", "created": "2024-05-01 09:00:00", "embedder": "test-8d"}
LAW = ("中华人民共和国劳动合同法", "劳动合同法")
TEXTS = [
    "用人单位自用工之日起即与劳动者建立劳动关系。用人单位应当建立职工名册备查。",
    "建立劳动关系，应当订立书面劳动合同。已建立劳动关系，未同时订立书面劳动合同的，应当自用工之日起一个月内订立书面劳动合同。",
    "劳动合同期限三个月以上不满一年的，试用期不得超过一个月；劳动合同期限一年以上不满三年的，试用期不得超过二个月。",
    "用人单位与劳动者协商一致，可以解除劳动合同。",
    "劳动者提前三十日以书面形式通知用人单位，可以解除劳动合同。劳动者在试用期内提前三日通知用人单位，可以解除劳动合同。",
]
NUMERALS = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"]


# ---------- the store under test, and a recipe to open it again in a child process ----------
def open_library(recipe: tuple):
    if recipe[0] == "lance":
        from rag.store.lance import LanceLibrary

        return LanceLibrary(recipe[1])
    from rag.store.pg import PgLibrary

    return PgLibrary(*recipe[1:])


@pytest.fixture(params=["lance", "postgres"])
def recipe(request, tmp_path) -> tuple:
    if request.param == "lance":
        pytest.importorskip("rag.store.lance")
        return ("lance", tmp_path / "kbs")
    library = request.getfixturevalue("pg_library")
    return ("postgres", library._db.url, library.schema, library.cache_root)


@pytest.fixture
def store(recipe):
    return open_library(recipe)


@pytest.fixture
def kb(store):
    return store.create(KB, META)


def _ctx():
    """Children fork from a server that imported the stores once (spawning each would import
    LanceDB again; forking this process would copy LanceDB's runtime threads' state)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["rag.store.lance", "tests.test_store"])
    return ctx


# ---------- synthetic documents ----------
def make_doc(doc_id: str, n: int, content_hash: str | None = None, added_at: str = "2024-05-01 10:00:00",
             seed: int = 0, file_name: str = "劳动合同法.pdf") -> tuple[DocumentInfo, list[dict]]:
    """A document of n article rows in rag.kb's db form; the last one a paragraph chunk
    (article_no and page -1), the third a 第X条之一 (suffix 1)."""
    rnd = random.Random(seed)
    rows = []
    for seq in range(n):
        chunk = seq == n - 1 and n > 1
        no = seq + 1
        rows.append({
            "id": f"{doc_id}:{seq}", "doc_id": doc_id, "file_name": file_name, "seq": seq,
            "text": TEXTS[seq % len(TEXTS)], "law_title": LAW[0], "law_short": LAW[1],
            "article_no": -1 if chunk else no, "article_cn": "" if chunk else f"第{NUMERALS[no % 12]}条",
            "article_suffix": 1 if seq == 2 else 0, "chapter": "第二章 劳动合同的订立", "page": -1 if chunk else 3 + seq,
            "status": "现行有效", "effective_date": "2013-07-01",
            "tokens": "用人单位 劳动者 劳动 合同 订立", "vector": [rnd.uniform(-1, 1) for _ in range(DIM)],
        })
    doc = DocumentInfo(doc_id, file_name, content_hash or f"sha-{doc_id}", added_at, n, "upload")
    return doc, rows


def without_vectors(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "vector"} for r in rows]


def add(kb, doc, rows):
    with kb.writing():
        kb.add(doc, rows)


def unit(i: int, dim: int = DIM, scale: float = 1.0) -> list[float]:
    return [scale if j == i else 0.0 for j in range(dim)]


# ---------- library ----------
def test_create_exists_names_delete(store):
    assert store.names() == [] and not store.exists(KB)
    store.create(KB, META)
    store.create("合同法", {"name": "合同法"})
    assert store.names() == sorted([KB, "合同法"]) and store.exists(KB)
    assert store.kb(KB).meta() == META
    store.delete("合同法")
    assert store.names() == [KB] and not store.exists("合同法")


def test_create_twice_and_unknown_kb_raise(store):
    store.create(KB, META)
    with pytest.raises(KnowledgeBaseError, match="已存在"):
        store.create(KB, {"name": KB})
    assert store.kb(KB).meta() == META  # the first one untouched
    with pytest.raises(KnowledgeBaseError, match="没有名为「不存在」的知识库"):
        store.kb("不存在")


# ---------- rows, documents, versions ----------
def test_add_then_read_returns_exactly_the_rows(store, kb):
    doc_b, rows_b = make_doc("bbbb", 12, added_at="2024-05-01 10:00:00", seed=1)
    doc_a, rows_a = make_doc("aaaa", 3, added_at="2024-05-02 10:00:00", seed=2, file_name="实施条例.txt")
    add(kb, doc_b, list(reversed(rows_b)))  # stored in any order, read by (doc_id, seq): 2 before 10
    add(kb, doc_a, rows_a)
    state = kb.read()
    assert state.rows == without_vectors(rows_a + rows_b)
    for got in state.rows:
        assert all(type(got[k]) is int for k in ("seq", "article_no", "article_suffix", "page"))
    assert sorted(state.documents, key=lambda d: d.doc_id) == [doc_a, doc_b]
    assert kb.documents() == state.documents
    assert state.version == kb.version()
    assert store.size_mb(KB) > 0


def test_version_changes_with_each_write_only(kb):
    versions = [kb.version()]
    assert kb.read().version == kb.version() == versions[0]  # reading changes nothing
    doc, rows = make_doc("d1", 4)
    add(kb, doc, rows)
    versions.append(kb.version())
    add(kb, *make_doc("d2", 2, seed=5))
    versions.append(kb.version())
    with kb.writing():
        kb.set_vectors({r["id"]: unit(0) for r in kb.read().rows})
    versions.append(kb.version())
    with kb.writing():
        kb.remove("d1")
    versions.append(kb.version())
    assert len(set(versions)) == len(versions)
    assert kb.version() == kb.version() == kb.read().version == versions[-1]


@pytest.mark.parametrize("same_doc_id", [True, False])
def test_duplicate_content_hash_raises_and_writes_nothing(kb, same_doc_id):
    doc, rows = make_doc("d1", 3, content_hash="sha-same")
    add(kb, doc, rows)
    before = kb.read()
    again, again_rows = make_doc("d1" if same_doc_id else "d9", 5, content_hash="sha-same", file_name="副本.pdf")
    with kb.writing(), pytest.raises(DuplicateDocument) as caught:
        kb.add(again, again_rows)
    assert caught.value.existing == doc
    assert isinstance(caught.value, KnowledgeBaseError)
    assert kb.read() == before


def test_remove(kb):
    add(kb, *make_doc("d1", 3, seed=1))
    doc2, rows2 = make_doc("d2", 2, seed=2)
    add(kb, doc2, rows2)
    with kb.writing():
        kb.remove("d1")
    state = kb.read()
    assert state.documents == [doc2] and state.rows == without_vectors(rows2)
    assert {i for i, _ in kb.dense_search(unit(0), 10)} <= {r["id"] for r in rows2}
    with kb.writing(), pytest.raises(KnowledgeBaseError):
        kb.remove("d1")


# ---------- vectors ----------
def test_dense_search_ranks_by_cosine(kb):
    doc, rows = make_doc("d1", 4)
    rows[0]["vector"] = [10.0, 0.1] + [0.0] * (DIM - 2)  # far from e0 in L2, nearest by angle
    rows[1]["vector"] = [0.5, 0.5] + [0.0] * (DIM - 2)
    rows[2]["vector"] = unit(1)
    rows[3]["vector"] = unit(0, scale=-1.0)
    add(kb, doc, rows)
    hits = kb.dense_search(unit(0), 3)
    assert [i for i, _ in hits] == ["d1:0", "d1:1", "d1:2"]
    assert [s for _, s in hits] == pytest.approx([0.99995, 0.70711, 0.0], abs=1e-4)
    assert len(kb.dense_search(unit(0), 10)) == 4


def test_set_vectors_changes_search(kb):
    doc, rows = make_doc("d1", 3)
    for n, r in enumerate(rows):
        r["vector"] = unit(n)
    add(kb, doc, rows)
    assert kb.dense_search(unit(0), 1)[0][0] == "d1:0"
    with kb.writing():
        kb.set_vectors({"d1:0": unit(2), "d1:1": unit(1), "d1:2": unit(0)})
    assert kb.dense_search(unit(0), 1)[0][0] == "d1:2"
    with kb.writing():  # another embedding model: another dimension
        kb.set_vectors({f"d1:{n}": unit(n, dim=16) for n in range(3)})
    assert kb.dense_search(unit(1, dim=16), 1)[0] == ("d1:1", pytest.approx(1.0, abs=1e-5))
    assert kb.read().rows == without_vectors(rows)  # rows untouched


# ---------- meta, sources, logs ----------
def test_meta_and_update_meta(kb):
    assert kb.meta() == META
    with kb.writing():
        kb.update_meta(embedder="legal-e5-small", ocr_pages={"d1": [1, 3]})
        kb.update_meta(description="新的说明")
    assert kb.meta() == {**META, "embedder": "legal-e5-small", "ocr_pages": {"d1": [1, 3]}, "description": "新的说明"}


def test_source_round_trip(kb):
    add(kb, *make_doc("d1", 2))
    assert kb.source_path("d1") is None
    pdf = b"%PDF-1.4\n" + os.urandom(50_000) + b"\n%%EOF\n"
    with kb.writing():
        kb.put_source("d1", pdf)
    path = kb.source_path("d1")
    assert path.read_bytes() == pdf and kb.source_path("d1") == path
    with kb.writing():
        kb.remove("d1")
    assert kb.source_path("d1") is None


def test_logs_append_in_order(store):
    feedback, reviews = store.log("feedback"), store.log("reviews")
    assert feedback.records() == []
    records = [{"rating": "up", "question": "试用期最长多久？", "n": n} for n in range(3)]
    for r in records:
        feedback.append(r)
    reviews.append({"winner": "A"})
    assert feedback.records() == records
    assert reviews.records() == [{"winner": "A"}]


def _append_records(recipe, worker: int, n: int) -> None:
    log = open_library(recipe).log("feedback")
    for i in range(n):
        log.append({"worker": worker, "i": i, "note": "劳动合同解除" * 40})


def test_log_appends_from_three_processes(store, recipe):
    ctx = _ctx()
    procs = [ctx.Process(target=_append_records, args=(recipe, w, 100)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    records = store.log("feedback").records()
    assert len(records) == 300
    assert all(r["note"] == "劳动合同解除" * 40 for r in records)  # none torn
    for w in range(3):
        assert [r["i"] for r in records if r["worker"] == w] == list(range(100))


# ---------- the writer lock ----------
def _hold_writer(recipe, held, hold_s: float) -> None:
    kb = open_library(recipe).kb(KB)
    with kb.writing():
        held.set()
        time.sleep(hold_s)
        kb.update_meta(child_done=True)


def test_writing_is_exclusive_across_processes(kb, recipe):
    ctx = _ctx()
    held = ctx.Event()
    child = ctx.Process(target=_hold_writer, args=(recipe, held, 1.0))
    child.start()
    assert held.wait(30)
    told = []
    with kb.writing(told.append):
        assert told == [WRITE_WAIT_MESSAGE]
        assert kb.meta().get("child_done") is True  # the parent went on only after the child let go
        kb.update_meta(parent=True)
    child.join(30)
    assert child.exitcode == 0


def test_writing_is_exclusive_across_threads(kb):
    held, told = threading.Event(), []

    def hold():
        with kb.writing():
            held.set()
            time.sleep(0.3)
            kb.update_meta(thread_done=True)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    with kb.writing(told.append):
        assert told == [WRITE_WAIT_MESSAGE] and kb.meta().get("thread_done") is True
    thread.join()


def test_writing_is_reentrant_in_one_thread(kb):
    told = []
    with kb.writing(told.append):
        with kb.writing(told.append):
            kb.update_meta(inner=True)
        add(kb, *make_doc("d1", 2))  # add() takes it a third time
        kb.update_meta(outer=True)
    assert told == []
    assert kb.meta()["inner"] and kb.meta()["outer"] and len(kb.read().rows) == 2


# ---------- atomicity across processes ----------
def _create(recipe, name, barrier, results) -> None:
    library = open_library(recipe)
    barrier.wait()
    try:
        library.create(name, {"name": name})
        results.put("created")
    except KnowledgeBaseError:
        results.put("exists")


def test_two_processes_create_one_name_exactly_one_succeeds(store, recipe):
    ctx = _ctx()
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_create, args=(recipe, "同名知识库", barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert outcomes == ["created", "exists"]
    assert store.names() == ["同名知识库"]


def _add_forever(recipe, ready) -> None:
    kb = open_library(recipe).kb(KB)
    _, template = make_doc("big", 5000)
    ready.set()
    for n in range(1000):  # little time outside add(): the kill most likely lands inside one
        doc_id = f"big{n:03d}"
        rows = [{**r, "id": f"{doc_id}:{r['seq']}", "doc_id": doc_id} for r in template]
        with kb.writing():
            kb.add(DocumentInfo(doc_id, "劳动合同法.pdf", f"sha-{doc_id}", "2024-05-01 10:00:00", 5000, "upload"), rows)


def test_kill_during_add_leaves_no_half_document(kb, recipe):
    ctx = _ctx()
    ready = ctx.Event()
    child = ctx.Process(target=_add_forever, args=(recipe, ready))
    child.start()
    assert ready.wait(60)
    time.sleep(random.uniform(0.3, 1.0))
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    with kb.writing():
        kb.recover()
        state = kb.read()
    per_doc = {d.doc_id: 0 for d in state.documents}
    for r in state.rows:
        per_doc[r["doc_id"]] += 1  # KeyError: an article without its document
    assert per_doc == {d.doc_id: d.n_articles for d in state.documents}
    found = {i for i, _ in kb.dense_search(unit(0), len(state.rows) + 10_000)}
    assert found == {r["id"] for r in state.rows}  # nothing half-written left behind either


# ---------- PostgreSQL only ----------
def test_postgres_refused_connection_names_the_server(tmp_path):
    from rag.store.pg import PgLibrary

    with pytest.raises(KnowledgeBaseError) as caught:
        PgLibrary("postgresql://legal:s3cret@127.0.0.1:9/legal", "legal_rag", tmp_path)
    message = str(caught.value)
    assert "postgresql://legal@127.0.0.1:9/legal" in message and "s3cret" not in message
    assert "无法连接" in message and "not answering" in message


def test_postgres_large_kb_search_uses_its_hnsw_index(pg_library, monkeypatch):  # noqa: F811
    import rag.store.pg
    from pgvector import Vector

    monkeypatch.setattr(rag.store.pg, "DENSE_INDEX_MIN_ROWS", 500)  # 20,000 takes ~25 s to index here
    rnd = random.Random(7)
    big, small = pg_library.create("大库", {}), pg_library.create("小库", {})
    for kb, n in ((big, 800), (small, 400)):  # the planner prefers a scan below ~500 rows anyway
        doc, rows = make_doc("d1", n)
        for r in rows:
            r["vector"] = [rnd.gauss(0, 1) for _ in range(384)]
        with kb.writing():
            kb.add(doc, rows)
            kb.optimize()
        if kb is big:
            big_rows = rows
    query = [rnd.gauss(0, 1) for _ in range(384)]
    with pg_library._db.connection() as conn:
        def plan(kb):
            return "\n".join(r[0] for r in conn.execute(b"explain " + kb._dense_query(384).as_bytes(conn),
                                                        {"q": Vector(query), "k": 8}))
        assert "articles_hnsw_" in plan(big)
        assert "articles_hnsw_" not in plan(small)  # under the threshold: exact scan, no index
    exact = sorted(big_rows, key=lambda r: -_cosine(query, r["vector"]))
    assert [i for i, _ in big.dense_search(query, 5)] == [r["id"] for r in exact[:5]]


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
