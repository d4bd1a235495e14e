"""The embedded store (the default): a folder per KB under one root, LanceDB inside.

    <root>/<name>/kb.json        name, description, created, embedder, ocr_pages
    <root>/<name>/lance/         LanceDB tables `articles` (rows + vectors) and `documents`
    <root>/<name>/sources/       source PDFs by doc id
    <root>/<name>/write.lock     the writers' file lock (fcntl), across processes
    <logs_dir>/<kind>.jsonl      append-only logs (feedback, reviews …), fcntl-locked appends

Atomicity: an add writes the articles first and the `documents` row last (the commit point);
readers only see articles of committed documents, and `recover()`, run by writers under the
lock, deletes the articles a killed writer left without a document row. A remove deletes the
`documents` row first. `read()` retries when a document commit lands while it reads.

With `vector_uri` (a LanceDB server or bucket) the tables live there, but kb.json, the lock
and sources stay in the local folder: such a KB is shared by the processes of one machine
only. A team on several machines uses the PostgreSQL store (rag/store/pg.py, docs/storage.md).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Collection

import lancedb
import pyarrow as pa

from rag.errors import KnowledgeBaseError
from rag.store.base import DENSE_INDEX_MIN_ROWS, WRITE_WAIT_MESSAGE, DocumentInfo, DuplicateDocument, OnWait, StoredState

SOURCES_DIR = "sources"
LOCK_FILE = "write.lock"
READ_RETRIES = 5
# optimize() deletes table versions older than this: a reader in another process may still be
# reading one a little older than the newest (0 would break it mid-read; LanceDB warns so).
KEEP_VERSIONS = timedelta(minutes=10)


class JsonlLog:
    """An append-only JSONL file; appends hold an exclusive fcntl lock (one line per write,
    never interleaved across processes), reads a shared one."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.write(line)
                f.flush()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            fcntl.flock(f, fcntl.LOCK_SH)
            try:
                data = f.read().decode("utf-8")
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return [json.loads(line) for line in data.splitlines() if line.strip()]


class FileWriteLock:
    """Writers of one KB, across threads and processes: an in-process lock, then fcntl on a
    file. Re-entrant per thread. Whoever has to wait is told once through on_wait."""

    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def hold(self, on_wait: OnWait | None = None):
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        told = False
        if not self._thread_lock.acquire(blocking=False):
            told = _tell(on_wait)
            self._thread_lock.acquire()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not told:
                        _tell(on_wait)
                    fcntl.flock(f, fcntl.LOCK_EX)
                self._local.depth = 1
                try:
                    yield
                finally:
                    self._local.depth = 0
                    fcntl.flock(f, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def _tell(on_wait: OnWait | None) -> bool:
    if on_wait:
        on_wait(WRITE_WAIT_MESSAGE)
    return True


class LanceKbStore:
    def __init__(self, name: str, folder: Path, uri: str):
        self.name = name
        self.folder = folder
        self._db = lancedb.connect(uri)
        self._lock = FileWriteLock(folder / LOCK_FILE)
        self._handles: dict[str, object] = {}
        self._handles_lock = threading.Lock()

    # ---------- reading ----------
    def _latest(self, kind: str):
        """The table at its newest version (other processes' commits included), or None."""
        with self._handles_lock:
            table = self._handles.get(kind)
            if table is None:
                try:
                    table = self._db.open_table(kind)
                except (FileNotFoundError, ValueError):
                    return None
                self._handles[kind] = table
            else:
                table.checkout_latest()
            return table

    def version(self):
        docs, arts = self._latest("documents"), self._latest("articles")
        return (docs.version if docs else 0, arts.version if arts else 0)

    def documents(self) -> list[DocumentInfo]:
        return _documents(self._open("documents"))

    def _open(self, kind: str):
        """A handle of its own on the table's newest version, or None."""
        try:
            return self._db.open_table(kind)
        except (FileNotFoundError, ValueError):
            return None

    def read(self) -> StoredState:
        """Documents, then articles, each from a table handle of its own opened at that moment
        (pinned: other threads moving the shared handles cannot change what is read). An add
        commits its articles before its document row, so every document read has its articles;
        only a remove racing the read can leave a document short, which is read again, and left
        out of this state when it keeps racing (it is being removed)."""
        for attempt in range(READ_RETRIES):
            docs_tbl, arts_tbl = self._open("documents"), None
            docs = _documents(docs_tbl)
            arts_tbl = self._open("articles")
            rows = _rows(arts_tbl, [c for c in arts_tbl.schema.names if c != "vector"]) if arts_tbl is not None else []
            committed = {d.doc_id: d for d in docs}
            rows = [r for r in rows if r["doc_id"] in committed]
            per_doc: dict[str, int] = {}
            for r in rows:
                per_doc[r["doc_id"]] = per_doc.get(r["doc_id"], 0) + 1
            short = {d.doc_id for d in docs if per_doc.get(d.doc_id, 0) != d.n_articles}
            if not short or attempt == READ_RETRIES - 1:
                docs = [d for d in docs if d.doc_id not in short]
                rows = [r for r in rows if r["doc_id"] not in short]
                rows.sort(key=lambda r: (r["doc_id"], r["seq"]))
                version = (docs_tbl.version if docs_tbl else 0, arts_tbl.version if arts_tbl else 0)
                return StoredState(version, docs, rows)
        raise AssertionError("unreachable")

    def meta(self) -> dict:
        try:
            return json.loads((self.folder / "kb.json").read_text())
        except FileNotFoundError:
            return {}

    def dense_search(self, vector: list[float], k: int,
                     doc_ids: Collection[str] | None = None) -> list[tuple[str, float]]:
        table = self._handles.get("articles") or self._latest("articles")
        if table is None:
            return []
        query = table.search(vector).metric("cosine")
        if doc_ids is not None:
            if not doc_ids:
                return []
            listed = ", ".join(f"'{_quote(d)}'" for d in sorted(doc_ids))
            query = query.where(f"doc_id IN ({listed})", prefilter=True)
        hits = query.limit(k).select(["id", "_distance"]).to_list()  # naming _distance: no LanceDB deprecation warning
        return [(h["id"], 1.0 - float(h["_distance"])) for h in hits]

    def source_path(self, doc_id: str) -> Path | None:
        path = self.folder / SOURCES_DIR / f"{doc_id}.pdf"
        return path if path.is_file() else None

    # ---------- writing (inside writing()) ----------
    def writing(self, on_wait: OnWait | None = None):
        return self._lock.hold(on_wait)

    def add(self, doc: DocumentInfo, rows: list[dict]) -> None:
        existing = next((d for d in self.documents() if d.content_hash == doc.content_hash), None)
        if existing:
            raise DuplicateDocument(existing)
        self._append("articles", _with_vectors(rows))
        self._append("documents", pa.Table.from_pylist([doc.__dict__]))  # commit point

    def remove(self, doc_id: str) -> None:
        docs = self._latest("documents")
        if docs is None or not any(d.doc_id == doc_id for d in self.documents()):
            raise KnowledgeBaseError(f"知识库「{self.name}」中没有文档 {doc_id}。/ No document {doc_id!r}.")
        docs.delete(f"doc_id = '{_quote(doc_id)}'")  # commit point
        self._latest("articles").delete(f"doc_id = '{_quote(doc_id)}'")
        (self.folder / SOURCES_DIR / f"{doc_id}.pdf").unlink(missing_ok=True)

    def set_vectors(self, vectors: dict[str, list[float]]) -> None:
        arts = self._latest("articles")
        if arts is None:
            return
        table = arts.to_arrow()
        new = [vectors[i] for i in table.column("id").to_pylist()]
        flat = pa.array([x for v in new for x in v], pa.float32())
        column = pa.FixedSizeListArray.from_arrays(flat, len(new[0]))
        table = table.set_column(table.column_names.index("vector"), "vector", column)
        with self._handles_lock:
            self._handles["articles"] = self._db.create_table("articles", table, mode="overwrite")

    def update_meta(self, **values) -> None:
        path = self.folder / "kb.json"
        tmp = self.folder / f".kb.json.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps({**self.meta(), **values}, ensure_ascii=False))
        tmp.replace(path)

    def put_source(self, doc_id: str, data: bytes) -> None:
        folder = self.folder / SOURCES_DIR
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{doc_id}.{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        tmp.replace(folder / f"{doc_id}.pdf")

    def recover(self) -> int:
        arts = self._latest("articles")
        if arts is None:
            return 0
        docs = self.documents()
        if arts.count_rows() == sum(d.n_articles for d in docs):
            return 0  # nothing half-written (count_rows reads metadata only: no scan per add)
        committed = {d.doc_id for d in docs}
        present = [r["doc_id"] for r in _rows(arts, ["doc_id"])]
        orphans = {d for d in present if d not in committed}
        for doc_id in orphans:
            arts.delete(f"doc_id = '{_quote(doc_id)}'")
        for tmp in (self.folder / SOURCES_DIR).glob(".*") if (self.folder / SOURCES_DIR).is_dir() else []:
            tmp.unlink(missing_ok=True)
        return sum(d in orphans for d in present)

    def optimize(self) -> None:
        arts, docs = self._latest("articles"), self._latest("documents")
        if arts is None:
            return
        arts.optimize(cleanup_older_than=KEEP_VERSIONS)  # drop superseded versions
        if docs is not None:
            docs.optimize(cleanup_older_than=KEEP_VERSIONS)
        if arts.count_rows() >= DENSE_INDEX_MIN_ROWS:
            arts.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ", replace=True)

    def _append(self, kind: str, data: pa.Table) -> None:
        table = self._latest(kind)
        if table is None:
            table = self._db.create_table(kind, data)
            with self._handles_lock:
                self._handles[kind] = table
        else:
            table.add(data)


class LanceLibrary:
    """KB folders under `root`; logs as JSONL files in `logs_dir` (default: root's parent)."""

    def __init__(self, root: Path, vector_uri: str | None = None, logs_dir: Path | None = None):
        self.root = root
        self.vector_uri = vector_uri
        self.logs_dir = logs_dir or root.parent
        self.location = str(root)
        root.mkdir(parents=True, exist_ok=True)

    def names(self) -> list[str]:
        """KB folders (those holding a kb.json), and folders whose kb.json cannot be looked at
        (no permission …): opening those says why, so a listing can name them instead of
        hiding them or failing on them."""
        names = []
        for p in self.root.iterdir():
            if p.name.startswith("."):
                continue
            try:
                found = (p / "kb.json").exists()
            except OSError:
                found = True
            if found:
                names.append(p.name)
        return sorted(names)

    def exists(self, name: str) -> bool:
        return (self.root / name / "kb.json").exists()

    def create(self, name: str, meta: dict) -> LanceKbStore:
        """Atomic: the folder is built under a temporary name and renamed into place."""
        tmp = self.root / f".creating-{uuid.uuid4().hex}"
        tmp.mkdir()
        (tmp / "kb.json").write_text(json.dumps(meta, ensure_ascii=False))
        final = self.root / name
        if final.is_dir() and not (final / "kb.json").exists():
            shutil.rmtree(final, ignore_errors=True)  # an empty folder left by older versions
        try:
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise KnowledgeBaseError(f"知识库「{name}」已存在。/ Knowledge base {name!r} already exists.") from None
        return self.kb(name)

    def kb(self, name: str) -> LanceKbStore:
        if not self.exists(name):
            raise KnowledgeBaseError(f"没有名为「{name}」的知识库。/ No knowledge base {name!r}.")
        folder = self.root / name
        uri = f"{self.vector_uri.rstrip('/')}/{name}" if self.vector_uri else str(folder / "lance")
        return LanceKbStore(name, folder, uri)

    def delete(self, name: str) -> None:
        store = self.kb(name)
        with store.writing():
            doomed = self.root / f".deleting-{uuid.uuid4().hex}"
            os.rename(self.root / name, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def log(self, kind: str) -> JsonlLog:
        return JsonlLog(self.logs_dir / f"{kind}.jsonl")

    def size_mb(self, name: str) -> float:
        return sum(p.stat().st_size for p in (self.root / name).rglob("*") if p.is_file()) / 1e6

    def cache_dir(self, name: str) -> Path:
        return self.root / name


def _with_vectors(rows: list[dict]) -> pa.Table:
    data = pa.Table.from_pylist(rows)
    flat = pa.array([x for r in rows for x in r["vector"]], pa.float32())  # LanceDB searches fixed-size float32
    vectors = pa.FixedSizeListArray.from_arrays(flat, len(rows[0]["vector"]))
    return data.set_column(data.column_names.index("vector"), "vector", vectors)


def _documents(table) -> list[DocumentInfo]:
    rows = table.to_arrow().to_pylist() if table is not None else []
    docs = [DocumentInfo(**{k: r[k] for k in DocumentInfo.__dataclass_fields__}) for r in rows]
    return sorted(docs, key=lambda d: (d.added_at, d.doc_id))


def _rows(table, columns: list[str]) -> list[dict]:
    return table.search().select(columns).limit(None).to_arrow().to_pylist()


def _quote(value: str) -> str:
    return value.replace("'", "''")
