"""The storage interface of knowledge bases, with two implementations:

- `rag.store.lance.LanceLibrary`: the embedded default, a folder per KB (LanceDB tables
  `articles` and `documents`, kb.json, sources/), writes serialised across processes by a
  file lock;
- `rag.store.pg.PgLibrary`: PostgreSQL with pgvector for shared deployments: KBs, documents,
  articles, vectors, content hashes, source PDFs and the feedback/review logs in one
  transactional database; writes serialised by an advisory lock per KB.

`rag.kb` builds snapshots, BM25 and lookups on top of this interface and never
touches a database itself; `rag.defaults.store_from(settings)` picks the implementation.

The contract every implementation keeps (tests/test_store.py runs the same suite on both):
- `KbStore.read()` returns one consistent state: only committed documents and exactly their
  articles, each row with its `tokens` (jieba, for BM25) and no vector, sorted by
  (doc_id, seq); `version` names that state and changes with every committed write.
- `version()` is cheap (a manifest or one row), so a reader can poll it per query.
- Writes (`add`, `remove`, `set_vectors`, `update_meta`, `put_source`, `recover`, `optimize`)
  happen inside `writing()`, which holds a lock across processes and machines; whoever waits
  for it is told through `on_wait` first, then blocks (no error).
- `add` is atomic: after a crash (kill -9 included) the document is either wholly there or
  absent; `recover()` (under the lock) removes what a crashed writer left half-written.
- Content hashes are unique per KB: adding a document whose hash is present raises
  `DuplicateDocument` and writes nothing.
- `LibraryStore.create` is atomic: of two processes creating one name, one creates it and
  the other gets `KnowledgeBaseError` ("already exists").
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Hashable, Protocol

from rag.errors import KnowledgeBaseError

DENSE_INDEX_MIN_ROWS = 20_000  # from this many articles a KB gets an ANN index (below: exact flat scan)
WRITE_WAIT_MESSAGE = "另一个上传正在写入此知识库，正在等待… / another upload to this knowledge base is in progress, waiting"
OnWait = Callable[[str], None]


@dataclass
class DocumentInfo:
    doc_id: str
    file_name: str
    content_hash: str
    added_at: str
    n_articles: int
    source: str


@dataclass(frozen=True)
class StoredState:
    """One consistent read of a KB: committed documents and their article rows."""

    version: Hashable
    documents: list[DocumentInfo]
    rows: list[dict]  # id, doc_id, seq, tokens and the Article fields (rag.kb's db form)


class DuplicateDocument(KnowledgeBaseError):
    """A document with this content hash is already in the KB (nothing was written)."""

    def __init__(self, existing: DocumentInfo):
        super().__init__(f"「{existing.file_name}」已在知识库中。/ {existing.file_name} is already in the knowledge base.")
        self.existing = existing


class KbStore(Protocol):
    name: str

    def version(self) -> Hashable: ...

    def read(self) -> StoredState: ...

    def documents(self) -> list[DocumentInfo]: ...

    def meta(self) -> dict: ...

    def dense_search(self, vector: list[float], k: int,
                     doc_ids: Collection[str] | None = None) -> list[tuple[str, float]]:
        """(article id, cosine similarity) of the k nearest articles (committed or not: callers
        keep only ids of their snapshot); with doc_ids, the k nearest of those documents only
        (filtered inside the search, so rows of other documents take none of the k places)."""

    def source_path(self, doc_id: str) -> Path | None:
        """A local file holding the document's source PDF, if one was kept."""

    def writing(self, on_wait: OnWait | None = None) -> AbstractContextManager[None]: ...

    # --- inside writing() only ---
    def add(self, doc: DocumentInfo, rows: list[dict]) -> None:
        """rows: the article rows of `doc`, each with `vector` (list of floats)."""

    def remove(self, doc_id: str) -> None: ...

    def set_vectors(self, vectors: dict[str, list[float]]) -> None:
        """Replace every article's vector (keys: article row ids) in one commit."""

    def update_meta(self, **values) -> None: ...

    def put_source(self, doc_id: str, data: bytes) -> None: ...

    def recover(self) -> int:
        """Remove what a crashed writer left half-written; returns how many rows."""

    def optimize(self) -> None:
        """Compact storage and build the ANN index when the KB is large."""


class LibraryStore(Protocol):
    """The KBs of one deployment, and its append-only record logs."""

    location: str  # shown to users: a folder or a database URL without password

    def names(self) -> list[str]: ...

    def exists(self, name: str) -> bool: ...

    def create(self, name: str, meta: dict) -> KbStore: ...

    def kb(self, name: str) -> KbStore:
        """An existing KB's store (KnowledgeBaseError when there is none)."""

    def delete(self, name: str) -> None: ...

    def log(self, kind: str) -> "RecordLog":
        """The append-only log `kind` (feedback, reviews, review_items, review_judge)."""

    def size_mb(self, name: str) -> float: ...

    def cache_dir(self, name: str) -> Path:
        """A local folder for what can be rebuilt from the store (BM25 indexes, source PDFs)."""


class RecordLog(Protocol):
    def append(self, record: dict) -> None: ...

    def records(self) -> list[dict]: ...
