# Over 400 lines: snapshots, the writer lock's recovery and the library are one consistency story; split, each half would need the other's internals.
"""Named knowledge bases: documents → articles → stored rows (text, jieba tokens, vectors).

Storage is behind one interface (rag/store/base.py) with two implementations: LanceDB folders
(the default, rag/store/lance.py) and PostgreSQL + pgvector for teams (rag/store/pg.py).
This module builds what readers need on top of it:

- **Snapshots.** `KnowledgeBase.snapshot()` is one immutable view (articles in row order with
  their stored tokens, lookups, the store version it came from); the retriever takes one per
  query, so an upload finishing mid-query cannot map BM25 rows onto the wrong articles (the
  BM25 index of a snapshot, and its disk cache in `Snapshot.cache_dir`, belong to retrieval:
  rag/retrieval/lexical.py). Every REFRESH_S a reader asks the store for its version (one
  cheap read) and, when another process (or thread) committed something, loads a new snapshot.
- **Writes** happen under the store's writer lock (across processes): what a killed writer
  left half-written is recovered first, the content-hash check runs under the lock (the same
  file twice is one document), and whoever waits for the lock is told so (`on_wait`).

Ingestion (load → parse → enrich → embed) is rag/ingest.py; this class stores articles whose
vectors were already computed. kb.json / the `kbs` row records which embedding model made the
vectors (`embedder_id`); `KnowledgeBases.open` re-embeds a KB made by another
with the `reembed` function its opener hands in (rag.defaults passes rag.ingest.reembed), so
this module never imports ingestion. It imports no retrieval either: the tokenizer whose words
it stores is rag.text's, and retrieval reads the KB, never the other way round.

Does not: version documents (a changed file is a new document; remove the old one).
"""
from __future__ import annotations

import hashlib
import threading
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.errors import KnowledgeBaseError
from rag.store.base import DocumentInfo, DuplicateDocument, KbStore, LibraryStore, OnWait
from rag.store.lance import LanceLibrary
from rag.text import LegalTokenizer
from rag.types import Article

MAX_KB_NAME = 64
REFRESH_S = 0.5  # how stale a reader's snapshot may be before it asks the store for its version
_ARTICLE_FIELDS = [f.name for f in fields(Article) if f.name not in ("kb",)]
_INT_FIELDS = {"article_no", "article_suffix", "page"}  # None is stored as -1

Progress = Callable[[float, str], None]
LawInfo = Callable[[str], "dict | None"]  # law title -> {"status", "effective_date"} or None
EmbedderSource = "BaseEmbedding | Callable[[], BaseEmbedding]"
Reembed = Callable[["KnowledgeBase", "Progress | None"], object]  # rag.ingest.reembed


@dataclass
class AddResult:
    doc_id: str
    file_name: str
    n_articles: int
    skipped: bool  # True when the same content was already in the KB
    ocr_pages: list[int] = field(default_factory=list)  # PDF pages whose text was OCR'd
    missing: str = ""  # added as partial: what the file lost (rag.documents.load.missing_parts)
    directives: list[str] = field(default_factory=list)  # articles that address the reader or model (set by ingest)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embedder_id(embedder: BaseEmbedding) -> str:
    """Which model made a KB's vectors: the model folder's or hub id's last component
    (legal-e5-small-1a2b3c4d), or the class name for embedders without a model name."""
    name = getattr(embedder, "model_name", None) or type(embedder).__name__
    return Path(str(name).rstrip("/")).name


def embed_text(a: Article) -> str:
    """What the dense and lexical indexes see: the law and chapter give a bare article context."""
    head = f"《{a.law_title}》{a.article_cn}" if a.law_title else a.article_cn
    return f"{head} {a.chapter} {a.text}".strip()


class Snapshot:
    """Immutable view used by readers: articles in row order, their stored tokens (space-joined,
    what BM25 indexes) and lookup maps; `cache_dir` is the KB's local folder for indexes built
    from it (rag.retrieval.lexical.bm25_of)."""

    def __init__(self, kb: str, version, documents: list[DocumentInfo], rows: list[dict], store: KbStore,
                 cache_dir: Path):
        self.version = version
        self.documents = documents
        self.articles = [Article(kb=kb, **{k: _from_db(k, r[k]) for k in _ARTICLE_FIELDS}) for r in rows]
        self.ids = [r["id"] for r in rows]
        self.tokens = [r["tokens"] for r in rows]
        self.cache_dir = cache_dir
        self.row_by_id = {i: n for n, i in enumerate(self.ids)}
        self.by_ref: dict[tuple[str, int, int], int] = {}
        for n, a in enumerate(self.articles):
            if a.article_no is not None:
                self.by_ref.setdefault((a.law_short, a.article_no, a.article_suffix), n)
        self.laws = {a.law_short for a in self.articles if a.law_short}
        self._store = store

    def lookup(self, law_short: str, article_no: int, suffix: int = 0) -> Article | None:
        row = self.by_ref.get((law_short, article_no, suffix))
        return None if row is None else self.articles[row]

    def dense_search(self, query_vector: list[float], k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest articles of this snapshot. Rows outside it
        (left by a writer killed before its commit, or committed after this snapshot) must not
        take places among the k: when the plain search returns any, it is asked again for this
        snapshot's documents only (the usual case, none, costs nothing more)."""
        if not self.articles:
            return []
        hits = self._store.dense_search(query_vector, k)
        if any(i not in self.row_by_id for i, _ in hits):
            hits = self._store.dense_search(query_vector, k, doc_ids={d.doc_id for d in self.documents})
        return [(self.row_by_id[i], score) for i, score in hits if i in self.row_by_id]


class KnowledgeBase:
    """One KB over a KbStore. Thread-safe: readers use an immutable snapshot, writes hold the
    store's writer lock (threads and processes)."""

    def __init__(self, name: str, store: KbStore, library: "KnowledgeBases", cache_dir: Path):
        self.name = name
        self.store = store
        self.library = library
        self.tokenizer = library.tokenizer
        self.law_info = library.law_info
        self.cache_dir = cache_dir
        self._refresh_lock = threading.Lock()
        self._defer_refresh = False
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self.snapshot()

    @property
    def embedder(self) -> BaseEmbedding:
        return self.library.embedder

    # ---------- reading ----------
    def snapshot(self, fresh: bool = False) -> Snapshot:
        """The current view; asks the store for its version at most every REFRESH_S (always
        when `fresh`) and loads a new snapshot when another writer committed something."""
        snap = self._snapshot
        if snap is not None and not fresh and time.monotonic() - self._checked_at < REFRESH_S:
            return snap
        with self._refresh_lock:
            if self._snapshot is not snap and not fresh:  # another thread refreshed meanwhile
                return self._snapshot
            if self._snapshot is None or self.store.version() != self._snapshot.version:
                self._snapshot = self._load()
            self._checked_at = time.monotonic()
            return self._snapshot

    @property
    def articles(self) -> list[Article]:
        return self.snapshot().articles

    def row_of(self, article_id: str) -> int | None:
        return self.snapshot().row_by_id.get(article_id)

    def lookup(self, law_short: str, article_no: int, suffix: int = 0) -> Article | None:
        """Exact article by law short name (劳动合同法) and number; None when absent."""
        return self.snapshot().lookup(law_short, article_no, suffix)

    def law_names(self) -> set[str]:
        return set(self.snapshot().laws)

    def documents(self) -> list[DocumentInfo]:
        return list(self.snapshot().documents)

    def stats(self) -> dict:
        snap = self.snapshot()
        return {"name": self.name, "documents": len(snap.documents), "articles": len(snap.articles),
                "laws": len(snap.laws), "size_mb": round(self.library.store.size_mb(self.name), 1)}

    def dense_search(self, query_vector: list[float], k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest articles (rows of the current snapshot)."""
        return self.snapshot().dense_search(query_vector, k)

    def source_pdf(self, doc_id: str) -> Path | None:
        """The PDF a document was added from (kept so a citation can show its page), if any."""
        return self.store.source_path(doc_id)

    def partial(self) -> dict[str, str]:
        """doc_id → what is missing, for documents added as partial (--keep-partial)."""
        return self.meta().get("partial", {})

    def ocr_pages(self) -> dict[str, list[int]]:
        """doc_id → the PDF pages whose text was OCR'd (shown beside the documents)."""
        return self.meta().get("ocr_pages", {})

    def meta(self) -> dict:
        return self.store.meta()

    # ---------- writing ----------
    @contextmanager
    def writing(self, on_wait: OnWait | None = None):
        """Hold the store's writer lock (re-entrant); what a killed writer left is removed first
        (cheap when nothing was: LanceDB compares row counts, PostgreSQL has nothing to do).
        Readers never saw those rows: they read committed documents only."""
        with self.store.writing(on_wait):
            self.store.recover()
            yield self

    def add_articles(self, articles: list[Article], file_name: str, digest: str, source: str,
                     vectors: list[list[float]], progress: Progress | None = None,
                     on_wait: OnWait | None = None, ocr_pages: list[int] | None = None,
                     pdf: bytes | None = None, missing: str = "") -> AddResult:
        """Store parsed articles with their vectors (rag/ingest.py computes them) as one
        document; the same content hash already present makes it a no-op (skipped)."""
        if not articles:
            raise KnowledgeBaseError(f"「{file_name}」中没有可索引的文字。/ No text to index in {file_name}.")
        if len(vectors) != len(articles):
            raise KnowledgeBaseError(f"{len(vectors)} vectors for {len(articles)} articles of {file_name}.")
        doc_id = digest[:16]
        rows = []
        for seq, (a, vec) in enumerate(zip(articles, vectors)):
            row = {k: _to_db(k, getattr(a, k)) for k in _ARTICLE_FIELDS}
            row.update(id=f"{doc_id}:{seq}", doc_id=doc_id, file_name=file_name, seq=seq,
                       tokens=" ".join(self.tokenizer.tokens(embed_text(a))), vector=list(vec))
            rows.append(row)
        doc = DocumentInfo(doc_id, file_name, digest, time.strftime("%Y-%m-%d %H:%M:%S"), len(articles), source)
        with self.writing(on_wait):
            if progress:
                progress(0.95, "写入索引 / writing the index")
            try:
                self.store.add(doc, rows)
            except DuplicateDocument as e:
                d = e.existing
                return AddResult(d.doc_id, d.file_name, d.n_articles, True, self.ocr_pages().get(d.doc_id, []),
                                 self.partial().get(d.doc_id, ""))
            if ocr_pages:
                self.store.update_meta(ocr_pages={**self.ocr_pages(), doc_id: ocr_pages})
            if missing:
                self.store.update_meta(partial={**self.partial(), doc_id: missing})
            if pdf is not None:
                self.store.put_source(doc_id, pdf)  # after the commit point: a crash costs only page images
        if not self._defer_refresh:
            self.snapshot(fresh=True)
        return AddResult(doc_id, file_name, len(articles), False, list(ocr_pages or []), missing)

    def find_document(self, doc_id_or_name: str) -> DocumentInfo:
        """The one document with this id or file name; several of one name must be named by id."""
        docs = self.store.documents()
        match = [d for d in docs if d.doc_id == doc_id_or_name] or [d for d in docs if d.file_name == doc_id_or_name]
        if not match:
            raise KnowledgeBaseError(
                f"知识库「{self.name}」中没有文档「{doc_id_or_name}」。/ No document "
                f"{doc_id_or_name!r} in knowledge base {self.name!r}; list them with `python -m rag docs --kb {self.name}`.")
        if len(match) > 1:
            ids = ", ".join(f"{d.doc_id}（{d.added_at}）" for d in match)
            raise KnowledgeBaseError(
                f"知识库「{self.name}」中有 {len(match)} 个名为「{doc_id_or_name}」的文档，请用文档 id 指定：{ids}。"
                f" / {len(match)} documents are named {doc_id_or_name!r}; remove one by its id: {ids}.")
        return match[0]

    def remove_document(self, doc_id_or_name: str, on_wait: OnWait | None = None) -> DocumentInfo:
        with self.writing(on_wait):
            doc = self.find_document(doc_id_or_name)
            self.store.remove(doc.doc_id)
        self.snapshot(fresh=True)
        return doc

    def set_meta(self, **values) -> None:
        with self.writing():
            self.store.update_meta(**values)

    def set_vectors(self, vectors: dict[str, list[float]], model_id: str, on_wait: OnWait | None = None) -> None:
        """Replace every article's vector (keys: row ids) and record the model that made them."""
        with self.writing(on_wait):
            if vectors:
                self.store.set_vectors(vectors)
                self.store.optimize()
            self.store.update_meta(embedder=model_id)
        self.snapshot(fresh=True)

    @contextmanager
    def bulk(self):
        """Add many documents, loading the new snapshot (and BM25) once at the end. Each add
        still takes the writer lock on its own, so other writers are not shut out meanwhile."""
        self._defer_refresh = True
        try:
            yield self
        finally:
            self._defer_refresh = False
            self.snapshot(fresh=True)

    def optimize(self) -> None:
        """Compact storage and, for large KBs, build the ANN index (after bulk ingest)."""
        with self.writing():
            self.store.optimize()

    # ---------- internals ----------
    def _load(self) -> Snapshot:
        state = self.store.read()
        snap = Snapshot(self.name, state.version, state.documents, state.rows, self.store, self.cache_dir)
        self.tokenizer.add_words(sorted(snap.laws))
        return snap


class KnowledgeBases:
    """The library of KBs in one store (LanceDB folders under `root`, or a LibraryStore such
    as PostgreSQL). The embedder is loaded on first use: listing KBs and documents needs none."""

    def __init__(self, root: "Path | LibraryStore", embedder: EmbedderSource, vector_uri: str | None = None,
                 law_info: LawInfo | None = None, reembed: Reembed | None = None):
        self.store: LibraryStore = LanceLibrary(root, vector_uri) if isinstance(root, Path) else root
        self.law_info = law_info
        self.reembed = reembed
        self._embedder = embedder
        self.tokenizer = LegalTokenizer()
        self._open: dict[str, KnowledgeBase] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path | None:
        """The folder of the LanceDB store (None for a database store)."""
        return getattr(self.store, "root", None)

    @property
    def location(self) -> str:
        return self.store.location

    @property
    def embedder(self) -> BaseEmbedding:
        if not isinstance(self._embedder, BaseEmbedding):
            with self._lock:
                if not isinstance(self._embedder, BaseEmbedding):
                    self._embedder = self._embedder()
        return self._embedder

    def names(self) -> list[str]:
        return self.store.names()

    def overview(self) -> list[tuple[str, dict | None, str]]:
        """(name, stats, "") per KB, or (name, None, why) for one that cannot be opened (a
        folder with a bad name, no permission, damaged tables): a listing skips and names it."""
        out = []
        for name in self.names():
            try:
                out.append((name, self.open_stored(name).stats(), ""))
            except Exception as exc:  # noqa: BLE001  (any failure of one KB must not hide the others)
                out.append((name, None, str(exc) if isinstance(exc, KnowledgeBaseError) else f"{type(exc).__name__}: {exc}"))
        return out

    def exists(self, name: str) -> bool:
        _check_name(name)
        return self.store.exists(name)

    def create(self, name: str, description: str = "") -> KnowledgeBase:
        _check_name(name)
        self.store.create(name, {"name": name, "description": description,
                                 "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                                 "embedder": embedder_id(self.embedder)})
        return self.open_stored(name)

    def open(self, name: str, progress: Progress | None = None) -> KnowledgeBase:
        """Open a KB; one embedded by another model is re-embedded first with the library's
        `reembed` (see the module doc); without one, such a KB is refused, not searched."""
        kb = self.open_stored(name)
        current, stored = embedder_id(self.embedder), kb.meta().get("embedder")
        if stored != current:
            if self.reembed is None:
                raise KnowledgeBaseError(
                    f"知识库「{name}」的向量来自 {stored or '旧模型'}，与当前模型 {current} 不符，需要重新向量化。"
                    f"/ KB {name!r} was embedded by {stored or 'an older model'}, not {current}: open it "
                    f"through rag.defaults.library_from (which re-embeds) or pass reembed=rag.ingest.reembed.")
            if progress and kb.articles:
                progress(0.0, f"知识库「{name}」的向量来自 {stored or '旧模型'}，正在用 {current} 重新向量化 "
                              f"{len(kb.articles)} 条法条 / re-embedding with the current model")
            self.reembed(kb, progress)
        return kb

    def needs_reembed(self, name: str) -> bool:
        """True when the KB holds articles embedded by another model than this library's."""
        kb = self.open_stored(name)
        return bool(kb.articles) and kb.meta().get("embedder") != embedder_id(self.embedder)

    def open_stored(self, name: str) -> KnowledgeBase:
        """Open a KB as stored, without the embedder check (listing, tools that set vectors)."""
        _check_name(name)
        with self._lock:
            if name in self._open:
                return self._open[name]
        if not self.store.exists(name):
            raise KnowledgeBaseError(
                f"没有名为「{name}」的知识库。/ No knowledge base {name!r}. Known: "
                f"{', '.join(self.names()) or 'none'}; create it with `python -m rag ingest FILE --kb {name}`.")
        kb = KnowledgeBase(name, self.store.kb(name), self, self.store.cache_dir(name))
        with self._lock:
            return self._open.setdefault(name, kb)

    def open_or_create(self, name: str) -> KnowledgeBase:
        """Of two processes creating one name at once, the second opens what the first made."""
        if self.exists(name):
            return self.open(name)
        try:
            return self.create(name)
        except KnowledgeBaseError:
            if self.exists(name):
                return self.open(name)
            raise

    def delete(self, name: str) -> None:
        _check_name(name)
        with self._lock:
            self._open.pop(name, None)
        if not self.store.exists(name):
            raise KnowledgeBaseError(f"没有名为「{name}」的知识库。/ No knowledge base {name!r}.")
        self.store.delete(name)


def _check_name(name: str) -> None:
    """Refuse names that cannot be a folder or that would print as something else (control
    characters: a newline, tab, \\r, \\x01, \\x7f …), before anything is written."""
    control = [c for c in name if unicodedata.category(c) in _CONTROL_CATEGORIES]
    if control:
        shown = "、".join(dict.fromkeys(repr(c)[1:-1] for c in control))
        raise KnowledgeBaseError(
            f"知识库名称 {name!r} 含控制字符（{shown}，如换行、制表符），不可用。请只用文字、数字、空格和 - _ 等可见字符，"
            f"例如「{_visible(name) or '我的法规'}」。 / Invalid knowledge base name {name!r}: it holds control characters"
            f" ({shown}); use visible characters only. Nothing was created.")
    bad = not name or len(name) > MAX_KB_NAME or name.startswith(".") or any(c in name for c in "/\\\0:*?\"<>|")
    if bad or name != name.strip():
        raise KnowledgeBaseError(
            f"知识库名称「{name}」不可用：1–{MAX_KB_NAME} 个字符，不能含 / \\ : * ? \" < > | 或以 . 开头，首尾不能有空格。"
            f" / Invalid knowledge base name {name!r}.")


_CONTROL_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _visible(name: str) -> str:
    return "".join(c for c in name if unicodedata.category(c) not in _CONTROL_CATEGORIES).strip()


def _to_db(key: str, value):
    if key in _INT_FIELDS:
        return -1 if value is None else int(value)
    return value if value is not None else ""


def _from_db(key: str, value):
    if key in _INT_FIELDS:
        return None if value is None or value < 0 else int(value)
    return value
