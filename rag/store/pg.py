# Over 400 lines: the whole PostgreSQL store (schema, advisory locks, versions, vectors, PDFs, record logs) behind the rag/store/base.py contract, one SQL dialect in one place.
"""The PostgreSQL + pgvector store (rag/store/base.py) for teams: KBs, documents, article rows,
vectors, source PDFs and the record logs of a deployment in one database, shared by app
processes on several machines.

    <schema>.kbs        name, meta (kb.json's dict), version (bumped by every write)
    <schema>.documents  committed documents; the content hash is unique per KB
    <schema>.articles   id, doc_id, seq, tokens, data (jsonb: the row's other keys), vector
                        (pgvector, any dimension)
    <schema>.sources    source PDFs (bytea), written to a local cache file on first use
    <schema>.records    the append-only logs (feedback, reviews …), by kind

Atomicity is Postgres's: every write is one transaction, so a writer killed mid-add leaves
nothing behind (the server rolls back when its connection drops). Writers of one KB are
serialised by a session advisory lock on a connection of their own, which the server also
frees when the holder dies. Dense search scans the KB's rows (exact) until `optimize()` builds
a partial HNSW index for a KB of DENSE_INDEX_MIN_ROWS articles or more.

Does not: migrate tables made by other versions, or share one connection between threads
(each operation borrows one from a small per-process pool).
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Collection
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.conninfo
from pgvector import Vector
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb

from rag.errors import KnowledgeBaseError
from rag.store.base import DENSE_INDEX_MIN_ROWS, WRITE_WAIT_MESSAGE, DocumentInfo, DuplicateDocument, OnWait, StoredState

HNSW_EF_SEARCH = 100  # candidates an HNSW scan keeps (pgvector returns at most this many rows)
HNSW_EF_SEARCH_MAX = 1000  # pgvector's upper bound
INDEX_BUILD_MEMORY = "512MB"  # maintenance_work_mem for an HNSW build: the graph should fit
CONNECT_TIMEOUT_S = 10
POOL_IDLE_MAX = 32  # idle connections kept per process (20 query threads reuse theirs)
POOL_PING_AFTER_S = 30  # an idle connection older than this is checked before use
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "legal-rag-pg"

_DOC_FIELDS = list(DocumentInfo.__dataclass_fields__)
_ROW_COLUMNS = ("id", "doc_id", "seq", "tokens")  # columns of `articles`; other keys go to `data`
_SETUP_LOCK = 0x6C6567616C726167  # pg_advisory_xact_lock key while any schema is created
_DDL = """
create schema if not exists {s};
create table if not exists {s}.kbs (
    name text primary key, meta jsonb not null, version bigint not null default 0);
create table if not exists {s}.documents (
    kb text not null references {s}.kbs (name) on delete cascade, doc_id text not null,
    file_name text not null, content_hash text not null, added_at text not null,
    n_articles int not null, source text not null,
    primary key (kb, doc_id), unique (kb, content_hash));
create table if not exists {s}.articles (
    kb text not null references {s}.kbs (name) on delete cascade, id text not null,
    doc_id text not null, seq int not null, data jsonb not null, tokens text, vector vector,
    primary key (kb, id));
create index if not exists articles_by_doc on {s}.articles (kb, doc_id, seq);
create table if not exists {s}.sources (
    kb text not null references {s}.kbs (name) on delete cascade, doc_id text not null,
    data bytea not null, primary key (kb, doc_id));
create table if not exists {s}.records (id bigserial primary key, kind text not null, data jsonb not null);
create index if not exists records_by_kind on {s}.records (kind);
"""


def _guarded(method):
    """Database errors reach callers as KnowledgeBaseError naming the server, never raw."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            raise self._db.error(exc) from exc
    return call


class _Database:
    """One schema of one server: set up once per process, connections pooled per process."""

    def __init__(self, url: str, schema: str):
        self.url, self.schema = url, schema
        self.location = without_password(url)
        self._pool: list[tuple[psycopg.Connection, float]] = []
        self._pool_lock = threading.Lock()
        self._pid = os.getpid()
        self._held = threading.local()  # writer locks this thread holds: key -> depth
        self._ext_schema = self._setup()

    def connect(self, vectors: bool = True) -> psycopg.Connection:
        # No prepared statements: the planner then sees the KB name as a constant and can
        # match the KB's partial HNSW index.
        extra = {} if "connect_timeout" in self.url else {"connect_timeout": CONNECT_TIMEOUT_S}
        try:
            conn = psycopg.connect(self.url, autocommit=True, prepare_threshold=None, **extra)
        except psycopg.Error as exc:
            raise self.error(exc) from exc
        if vectors:
            try:
                conn.execute(sql.SQL("set search_path to {}, {}").format(
                    sql.Identifier(self.schema), sql.Identifier(self._ext_schema)))
                register_vector(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    @contextmanager
    def connection(self):
        """A connection for one operation, from the pool (a forked child starts a new pool:
        a parent's connection is never used, nor closed, by its children)."""
        conn = None
        with self._pool_lock:
            if self._pid != os.getpid():
                self._pool, self._pid = [], os.getpid()
            if self._pool:
                conn, idle_since = self._pool.pop()
        if conn is not None and time.monotonic() - idle_since > POOL_PING_AFTER_S:
            try:
                conn.execute("select 1")
            except psycopg.Error:
                conn.close()
                conn = None
        if conn is None or conn.closed:
            conn = self.connect()
        try:
            yield conn
        finally:
            if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.close()
            else:
                with self._pool_lock:
                    keep = len(self._pool) < POOL_IDLE_MAX and self._pid == os.getpid()
                    if keep:
                        self._pool.append((conn, time.monotonic()))
                if not keep:
                    conn.close()

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for conn, _ in pool:
            conn.close()

    @contextmanager
    def advisory_lock(self, key: int, on_wait: OnWait | None):
        """A session advisory lock on a connection of its own, re-entrant per thread. Closing
        the connection releases it, as does the server when this process dies."""
        if getattr(self._held, "pid", None) != os.getpid():  # a forked child holds nothing
            self._held.pid, self._held.depth = os.getpid(), {}
        held = self._held.depth
        if key in held:
            held[key] += 1
            try:
                yield
            finally:
                held[key] -= 1
            return
        conn = self.connect(vectors=False)
        try:
            if not conn.execute("select pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
                if on_wait:
                    on_wait(WRITE_WAIT_MESSAGE)
                conn.execute("select pg_advisory_lock(%s)", [key])
            held[key] = 1
            try:
                yield
            finally:
                del held[key]
        except psycopg.Error as exc:
            raise self.error(exc) from exc
        finally:
            conn.close()

    def error(self, exc: psycopg.Error) -> KnowledgeBaseError:
        reason = " ".join(str(exc).split())
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if isinstance(exc, psycopg.OperationalError) and (not sqlstate or sqlstate[:2] in ("08", "57")):
            return KnowledgeBaseError(
                f"无法连接 PostgreSQL 数据库 {self.location}：{reason}。请启动数据库或修正 LEGAL_RAG_DATABASE_URL。"
                f" / PostgreSQL at {self.location} is not answering ({reason}). Start it or fix"
                f" LEGAL_RAG_DATABASE_URL.")
        return KnowledgeBaseError(f"PostgreSQL 数据库 {self.location} 出错：{reason} / PostgreSQL at {self.location} "
                                  f"failed: {reason}")

    def _setup(self) -> str:
        """Create the extension, schema and tables if missing (several processes may start at
        once: a transaction-level advisory lock lets one at a time check and create)."""
        with self.connect(vectors=False) as conn:
            try:
                with conn.transaction():
                    conn.execute("select pg_advisory_xact_lock(%s)", [_SETUP_LOCK])
                    ext = _extension_schema(conn)
                    if ext is None:
                        conn.execute("create extension if not exists vector")
                        ext = _extension_schema(conn)
                    conn.execute(sql.SQL("set local search_path to {}").format(sql.Identifier(ext)))
                    conn.execute(sql.SQL(_DDL).format(s=sql.Identifier(self.schema)))
                    return ext
            except psycopg.OperationalError as exc:
                raise self.error(exc) from exc
            except psycopg.Error as exc:
                reason = " ".join(str(exc).split())
                raise KnowledgeBaseError(
                    f"无法在 PostgreSQL 数据库 {self.location} 中准备 schema「{self.schema}」：{reason}。需要 pgvector 扩展"
                    f"（管理员执行 create extension vector）和建表权限。/ Could not set up schema {self.schema!r} in "
                    f"PostgreSQL at {self.location}: {reason}. It needs the pgvector extension (an admin runs "
                    f"`create extension vector`; https://github.com/pgvector/pgvector) and the right to create "
                    f"tables.") from exc


_DATABASES: dict[tuple[str, str], _Database] = {}
_DATABASES_LOCK = threading.Lock()


def _database(url: str, schema: str) -> _Database:
    """Libraries of one (url, schema) share the setup and the pool (store_from builds one per call)."""
    with _DATABASES_LOCK:
        db = _DATABASES.get((url, schema))
        if db is None:
            db = _DATABASES[(url, schema)] = _Database(url, schema)
        return db


def _extension_schema(conn) -> str | None:
    row = conn.execute("select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace"
                       " where e.extname = 'vector'").fetchone()
    return row[0] if row else None


class PgKbStore:
    """One KB's rows in the shared tables (rag.store.base.KbStore)."""

    def __init__(self, db: _Database, name: str, cache_dir: Path):
        self.name = name
        self._db = db
        self._cache = cache_dir
        self._lock_key = _hash_int(f"{db.schema}\0{name}")

    # ---------- reading ----------
    @_guarded
    def version(self) -> int:
        with self._db.connection() as conn:
            return self._version(conn)

    @_guarded
    def read(self) -> StoredState:
        with self._db.connection() as conn, conn.transaction():
            conn.execute("set transaction isolation level repeatable read, read only")  # one snapshot
            version = self._version(conn)
            docs = self._documents(conn)
            cur = conn.execute('select id, doc_id, seq, tokens, data from articles where kb = %s'
                               ' order by doc_id collate "C", seq', [self.name])
            rows = [{"id": i, "doc_id": d, "seq": s, "tokens": t, **data} for i, d, s, t, data in cur]
        return StoredState(version, docs, rows)

    @_guarded
    def documents(self) -> list[DocumentInfo]:
        with self._db.connection() as conn:
            return self._documents(conn)

    @_guarded
    def meta(self) -> dict:
        with self._db.connection() as conn:
            row = conn.execute("select meta from kbs where name = %s", [self.name]).fetchone()
        if row is None:
            raise _no_kb(self.name)
        return row[0]

    @_guarded
    def dense_search(self, vector: list[float], k: int,
                     doc_ids: Collection[str] | None = None) -> list[tuple[str, float]]:
        with self._db.connection() as conn, conn.transaction():
            dim = self._dim(conn)
            if dim is None:
                return []
            if len(vector) != dim:
                raise KnowledgeBaseError(
                    f"查询向量为 {len(vector)} 维，知识库「{self.name}」的向量为 {dim} 维：嵌入模型不一致。/ The query vector "
                    f"has {len(vector)} dimensions, knowledge base {self.name!r} holds {dim}: another embedding model.")
            ef = min(max(HNSW_EF_SEARCH, k), HNSW_EF_SEARCH_MAX)
            conn.execute("select set_config('hnsw.ef_search', %s, true)", [str(ef)])
            if doc_ids is None:
                rows = conn.execute(self._dense_query(dim), {"q": Vector(list(vector)), "k": k}).fetchall()
            else:  # one transaction per write leaves no orphans; a reader's older snapshot may ask this
                rows = conn.execute(self._dense_query(dim, only_docs=True),
                                    {"q": Vector(list(vector)), "k": k, "docs": sorted(doc_ids)}).fetchall()
        return [(i, float(score)) for i, score in rows]

    def _dense_query(self, dim: int, only_docs: bool = False) -> sql.Composed:
        """The expression and the literal KB name are those of the KB's partial index (optimize),
        so the planner can use it; tests EXPLAIN this query."""
        docs = sql.SQL(" and doc_id = any(%(docs)s)" if only_docs else "")
        return sql.SQL("select id, 1 - (vector::vector({d}) <=> %(q)s::vector({d})) from articles where kb = {kb}{docs}"
                       " order by vector::vector({d}) <=> %(q)s::vector({d}) limit %(k)s").format(
            d=sql.Literal(dim), kb=sql.Literal(self.name), docs=docs)

    @_guarded
    def source_path(self, doc_id: str) -> Path | None:
        if Path(doc_id).name != doc_id or doc_id.startswith("."):
            return None  # not a doc id: never a path outside the cache
        path = self._cache / f"{doc_id}.pdf"
        with self._db.connection() as conn:
            query = "select {} from sources where kb = %s and doc_id = %s"
            if conn.execute(query.format("1"), [self.name, doc_id]).fetchone() is None:
                return None
            if path.is_file():  # doc ids are content hashes: a cached file never goes stale
                return path
            data = conn.execute(query.format("data"), [self.name, doc_id]).fetchone()[0]
        self._cache.mkdir(parents=True, exist_ok=True)
        tmp = self._cache / f".{doc_id}.{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    # ---------- writing (inside writing()) ----------
    def writing(self, on_wait: OnWait | None = None):
        return self._db.advisory_lock(self._lock_key, on_wait)

    @_guarded
    def add(self, doc: DocumentInfo, rows: list[dict]) -> None:
        with self._db.connection() as conn:
            try:
                with conn.transaction():
                    # the documents row first: a duplicate fails before any article is copied
                    conn.execute(f"insert into documents (kb, {', '.join(_DOC_FIELDS)})"
                                 f" values (%s{', %s' * len(_DOC_FIELDS)})",
                                 [self.name, *(getattr(doc, f) for f in _DOC_FIELDS)])
                    with conn.cursor().copy("copy articles (kb, id, doc_id, seq, tokens, data, vector)"
                                            " from stdin (format binary)") as copy:
                        copy.set_types(["text", "text", "text", "int4", "text", "jsonb", "vector"])
                        for r in rows:
                            data = {k: v for k, v in r.items() if k not in _ROW_COLUMNS and k != "vector"}
                            copy.write_row((self.name, r["id"], r["doc_id"], r["seq"], r.get("tokens"), data,
                                            Vector(list(r["vector"]))))
                    self._bump(conn)
            except psycopg.errors.UniqueViolation:
                existing = next((d for d in self._documents(conn) if d.content_hash == doc.content_hash), None)
                if existing is not None:
                    raise DuplicateDocument(existing) from None
                raise KnowledgeBaseError(f"知识库「{self.name}」中已有文档 id {doc.doc_id} 或其条文 id。/ Document id "
                                         f"{doc.doc_id!r} or one of its article ids is already in {self.name!r}."
                                         ) from None
            except psycopg.errors.ForeignKeyViolation:
                raise _no_kb(self.name) from None

    @_guarded
    def remove(self, doc_id: str) -> None:
        with self._db.connection() as conn, conn.transaction():
            if not conn.execute("delete from documents where kb = %s and doc_id = %s", [self.name, doc_id]).rowcount:
                raise KnowledgeBaseError(f"知识库「{self.name}」中没有文档 {doc_id}。/ No document {doc_id!r}.")
            conn.execute("delete from articles where kb = %s and doc_id = %s", [self.name, doc_id])
            conn.execute("delete from sources where kb = %s and doc_id = %s", [self.name, doc_id])
            self._bump(conn)
        (self._cache / f"{doc_id}.pdf").unlink(missing_ok=True)

    @_guarded
    def set_vectors(self, vectors: dict[str, list[float]]) -> None:
        with self._db.connection() as conn:
            self._drop_dense_index(conn)  # it would be rebuilt row by row, and may have another dimension
            with conn.transaction():
                conn.execute("create temp table new_vectors (id text, vector vector) on commit drop")
                with conn.cursor().copy("copy new_vectors (id, vector) from stdin (format binary)") as copy:
                    copy.set_types(["text", "vector"])
                    for i, v in vectors.items():
                        copy.write_row((i, Vector(list(v))))
                updated = conn.execute("update articles a set vector = n.vector from new_vectors n"
                                       " where a.kb = %s and a.id = n.id", [self.name]).rowcount
                total = conn.execute("select count(*) from articles where kb = %s", [self.name]).fetchone()[0]
                if updated != total:
                    raise KnowledgeBaseError(f"知识库「{self.name}」有 {total} 条文，只给了 {updated} 个向量。/ "
                                             f"{updated} vectors for the {total} articles of {self.name!r}.")
                self._bump(conn)

    @_guarded
    def update_meta(self, **values) -> None:
        with self._db.connection() as conn:
            if not conn.execute("update kbs set meta = meta || %s, version = version + 1 where name = %s",
                                [Jsonb(values), self.name]).rowcount:
                raise _no_kb(self.name)

    @_guarded
    def put_source(self, doc_id: str, data: bytes) -> None:
        with self._db.connection() as conn:
            conn.execute("insert into sources (kb, doc_id, data) values (%s, %s, %s)"
                         " on conflict (kb, doc_id) do update set data = excluded.data", [self.name, doc_id, data])
        (self._cache / f"{doc_id}.pdf").unlink(missing_ok=True)

    def recover(self) -> int:
        # Nothing to do: each write is one transaction, and Postgres rolls back the open one of a
        # writer that died (kill -9 included) when its connection drops. Half-written rows never exist.
        return 0

    @_guarded
    def optimize(self) -> None:
        """Refresh planner statistics; build the KB's HNSW index once it is large (vacuum is
        left to autovacuum: the table holds every KB)."""
        with self._db.connection() as conn:
            conn.execute("analyze articles")
            n, dim = conn.execute("select count(*), max(vector_dims(vector)) from articles where kb = %s",
                                  [self.name]).fetchone()
            if n < DENSE_INDEX_MIN_ROWS or dim is None:
                return
            name = f"{self._index_prefix()}{dim}"
            valid = conn.execute("select indisvalid from pg_index where indexrelid = to_regclass(%s)",
                                 [sql.Identifier(self._db.schema, name).as_string(conn)]).fetchone()
            if valid and valid[0]:
                return
            self._drop_dense_index(conn)  # an invalid one left by an interrupted build, or another dimension
            conn.execute("select set_config('maintenance_work_mem', %s, false)", [INDEX_BUILD_MEMORY])
            try:
                # concurrently: writers of other KBs (same table) are not held up by the build
                conn.execute(sql.SQL("create index concurrently {} on articles using hnsw ((vector::vector({d}))"
                                     " vector_cosine_ops) where kb = {kb}").format(
                    sql.Identifier(name), d=sql.Literal(dim), kb=sql.Literal(self.name)))
            finally:
                conn.execute("reset maintenance_work_mem")

    # ---------- internals ----------
    def _version(self, conn) -> int:
        row = conn.execute("select version from kbs where name = %s", [self.name]).fetchone()
        if row is None:
            raise _no_kb(self.name)
        return row[0]

    def _documents(self, conn) -> list[DocumentInfo]:
        cur = conn.execute(f"select {', '.join(_DOC_FIELDS)} from documents where kb = %s"
                           ' order by added_at collate "C", doc_id collate "C"', [self.name])
        return [DocumentInfo(*r) for r in cur]

    def _dim(self, conn) -> int | None:
        row = conn.execute("select vector_dims(vector) from articles where kb = %s and vector is not null limit 1",
                           [self.name]).fetchone()
        return row[0] if row else None

    def _bump(self, conn) -> None:
        if not conn.execute("update kbs set version = version + 1 where name = %s", [self.name]).rowcount:
            raise _no_kb(self.name)

    def _index_prefix(self) -> str:
        return f"articles_hnsw_{hashlib.sha256(self.name.encode()).hexdigest()[:16]}_"

    def _drop_dense_index(self, conn) -> None:
        names = conn.execute("select indexname from pg_indexes where schemaname = %s and starts_with(indexname, %s)",
                             [self._db.schema, self._index_prefix()]).fetchall()
        for (name,) in names:
            conn.execute(sql.SQL("drop index concurrently if exists {}").format(sql.Identifier(self._db.schema, name)))


class PgLog:
    """An append-only record log (rag.store.base.RecordLog): rows of `records` of one kind."""

    def __init__(self, db: _Database, kind: str):
        self._db, self.kind = db, kind

    @_guarded
    def append(self, record: dict) -> None:
        with self._db.connection() as conn:
            conn.execute("insert into records (kind, data) values (%s, %s)", [self.kind, Jsonb(record)])

    @_guarded
    def records(self) -> list[dict]:
        with self._db.connection() as conn:
            return [r for (r,) in conn.execute("select data from records where kind = %s order by id", [self.kind])]


class PgLibrary:
    """The KBs and logs in one schema of a PostgreSQL database (rag.store.base.LibraryStore).
    Source PDFs are cached as files under `cache_dir`, a folder per KB."""

    def __init__(self, url: str, schema: str = "legal_rag", cache_dir: Path | None = None):
        self._db = _database(url, schema)
        self.schema = schema
        self.location = self._db.location
        self.cache_root = Path(cache_dir) if cache_dir else DEFAULT_CACHE

    @_guarded
    def names(self) -> list[str]:
        with self._db.connection() as conn:
            return [n for (n,) in conn.execute('select name from kbs order by name collate "C"')]

    @_guarded
    def exists(self, name: str) -> bool:
        with self._db.connection() as conn:
            return conn.execute("select 1 from kbs where name = %s", [name]).fetchone() is not None

    @_guarded
    def create(self, name: str, meta: dict) -> PgKbStore:
        """Atomic: of two processes creating one name, the second gets KnowledgeBaseError."""
        with self._db.connection() as conn:
            if not conn.execute("insert into kbs (name, meta) values (%s, %s) on conflict do nothing",
                                [name, Jsonb(meta)]).rowcount:
                raise KnowledgeBaseError(f"知识库「{name}」已存在。/ Knowledge base {name!r} already exists.")
        return PgKbStore(self._db, name, self.cache_dir(name))

    def kb(self, name: str) -> PgKbStore:
        if not self.exists(name):
            raise _no_kb(name)
        return PgKbStore(self._db, name, self.cache_dir(name))

    @_guarded
    def delete(self, name: str) -> None:
        store = self.kb(name)
        with store.writing(), self._db.connection() as conn:
            store._drop_dense_index(conn)
            conn.execute("delete from kbs where name = %s", [name])  # documents, articles, sources cascade
        shutil.rmtree(self.cache_dir(name), ignore_errors=True)

    def log(self, kind: str) -> PgLog:
        return PgLog(self._db, kind)

    @_guarded
    def size_mb(self, name: str) -> float:
        """Approximate: the stored size of the KB's rows (indexes not counted)."""
        with self._db.connection() as conn:
            total = conn.execute(
                "select coalesce((select sum(pg_column_size(a.*)) from articles a where kb = %(n)s), 0)"
                " + coalesce((select sum(pg_column_size(d.*)) from documents d where kb = %(n)s), 0)"
                " + coalesce((select sum(pg_column_size(s.*)) from sources s where kb = %(n)s), 0)",
                {"n": name}).fetchone()[0]
        return float(total) / 1e6

    def cache_dir(self, name: str) -> Path:
        """This machine's cache folder of a KB (source PDFs; rag.kb keeps BM25 here)."""
        key = hashlib.sha256(f"{self.location}\0{self.schema}\0{name}".encode()).hexdigest()[:16]
        return self.cache_root / key

    def close(self) -> None:
        """Close this process's idle connections (they reopen on the next use)."""
        self._db.close()


def without_password(url: str) -> str:
    """The URL or key=value conninfo as shown to users: any password left out."""
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            netloc = f"{userinfo.split(':', 1)[0]}@{host}"
        query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "(unparsable database URL)"
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo(**params)


def _no_kb(name: str) -> KnowledgeBaseError:
    return KnowledgeBaseError(f"没有名为「{name}」的知识库。/ No knowledge base {name!r}.")


def _hash_int(text: str) -> int:
    """A signed 64-bit advisory lock key."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)
