"""Named knowledge bases: documents → articles → LanceDB rows (vectors) + a BM25 index.

A KB lives in one folder: a LanceDB database (tables `articles` and `documents`),
`bm25/`, the lexical index with the article ids in its row order, and `sources/`, the PDFs
as uploaded (for page images in citations). LanceDB is embedded
here; the same client talks to a LanceDB server/cloud when `vector_uri` is set
(docs/storage.md says why LanceDB and not Milvus Lite: measured, 10–30× faster search).

Writes are atomic per document: articles are written first, the `documents` row is the
commit point, and on open any article whose document row is missing (a crash mid-add)
is deleted; the BM25 index is rebuilt when its ids disagree with the table.
Re-adding a file with the same content hash is a no-op. kb.json records which embedding
model made the vectors (rag.embeddings.embedder_id); a KB opened with another model is
re-embedded first, with progress (one table write: a crash keeps the old vectors and id).

Does not: version documents (a changed file is a new document; remove the old one),
or lock across processes (one writer process at a time; readers are fine).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Callable

import lancedb
import pyarrow as pa
from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.embeddings import embedder_id
from rag.errors import KnowledgeBaseError
from rag.lexical import Bm25Index, LegalTokenizer
from rag.loaders import read_document
from rag.types import Article

EMBED_BATCH = 32
DENSE_INDEX_MIN_ROWS = 20_000  # below this a flat scan is fast enough (and exact)
MAX_KB_NAME = 64
SOURCES_DIR = "sources"  # PDFs as uploaded, by doc id: citations show their pages
_ARTICLE_FIELDS = [f.name for f in fields(Article) if f.name not in ("kb",)]
_INT_FIELDS = {"article_no", "article_suffix", "page"}  # None is stored as -1

Progress = Callable[[float, str], None]
LawInfo = Callable[[str], "dict | None"]  # law title -> {"status", "effective_date"} or None


@dataclass
class DocumentInfo:
    doc_id: str
    file_name: str
    content_hash: str
    added_at: str
    n_articles: int
    source: str


@dataclass
class AddResult:
    doc_id: str
    file_name: str
    n_articles: int
    skipped: bool  # True when the same content was already in the KB
    ocr_pages: list[int] = field(default_factory=list)  # PDF pages whose text was OCR'd


def _scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    return progress and (lambda f, msg: progress(start + (end - start) * f, msg))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embed_text(a: Article) -> str:
    """What the dense and lexical indexes see: the law and chapter give a bare article context."""
    head = f"《{a.law_title}》{a.article_cn}" if a.law_title else a.article_cn
    return f"{head} {a.chapter} {a.text}".strip()


class KnowledgeBase:
    """One KB. Thread-safe: writes are serialised, readers use an immutable snapshot."""

    def __init__(self, name: str, db: lancedb.DBConnection, folder: Path, embedder: BaseEmbedding,
                 tokenizer: LegalTokenizer, law_info: LawInfo | None = None):
        self.name = name
        self.law_info = law_info
        self.folder = folder
        self.embedder = embedder
        self.tokenizer = tokenizer
        self._db = db
        self._write_lock = threading.RLock()
        self._defer_lexical = False
        self._articles_tbl = self._open_table("articles")
        self._documents_tbl = self._open_table("documents")
        self._recover()
        self._load_snapshot()

    # ---------- reading ----------
    @property
    def articles(self) -> list[Article]:
        return self._snapshot.articles

    @property
    def bm25(self) -> Bm25Index:
        return self._snapshot.bm25

    def row_of(self, article_id: str) -> int | None:
        return self._snapshot.row_by_id.get(article_id)

    def lookup(self, law_short: str, article_no: int, suffix: int = 0) -> Article | None:
        """Exact article by law short name (劳动合同法) and number; None when absent."""
        row = self._snapshot.by_ref.get((law_short, article_no, suffix))
        return None if row is None else self.articles[row]

    def law_names(self) -> set[str]:
        return set(self._snapshot.laws)

    def documents(self) -> list[DocumentInfo]:
        rows = self._documents_tbl.to_arrow().to_pylist() if self._documents_tbl else []
        docs = [DocumentInfo(**{k: r[k] for k in DocumentInfo.__dataclass_fields__}) for r in rows]
        return sorted(docs, key=lambda d: d.added_at)

    def stats(self) -> dict:
        docs = self.documents()
        return {"name": self.name, "documents": len(docs), "articles": len(self.articles),
                "laws": len(self._snapshot.laws), "size_mb": round(_folder_mb(self.folder), 1)}

    def dense_search(self, query_vector: list[float], k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest articles."""
        if self._articles_tbl is None or not self.articles:
            return []
        hits = (self._articles_tbl.search(query_vector).metric("cosine").limit(k)
                .select(["id", "_distance"]).to_list())  # naming _distance: no LanceDB deprecation warning
        out = []
        for h in hits:
            row = self._snapshot.row_by_id.get(h["id"])
            if row is not None:  # skip rows of a document not committed yet
                out.append((row, 1.0 - float(h["_distance"])))
        return out

    # ---------- writing ----------
    def add_file(self, data: bytes, file_name: str, max_bytes: int, source: str = "upload",
                 progress: Progress | None = None) -> AddResult:
        """Parse, embed and index one file; raises DocumentError before writing anything."""
        digest = content_hash(data)
        existing = self._document_by_hash(digest)
        if existing:
            return AddResult(existing.doc_id, existing.file_name, existing.n_articles, True,
                             self.ocr_pages().get(existing.doc_id, []))
        # OCR (when a PDF has scanned pages) reports the first half of the progress, embedding the rest
        parsed = read_document(data, file_name, max_bytes, _scaled(progress, 0.0, 0.5))
        loaded, articles = parsed.loaded, parsed.articles
        if loaded.ocr_pages:
            progress = _scaled(progress, 0.5, 1.0)
        info = self.law_info(articles[0].law_title) if self.law_info and articles and articles[0].law_title else None
        for a in articles if info else []:
            a.status = a.status or info["status"]
            a.effective_date = a.effective_date or info["effective_date"]
        result = self.add_articles(articles, file_name, digest, source, progress)
        if loaded.ocr_pages and not result.skipped:
            result.ocr_pages = loaded.ocr_pages
            self.set_meta(ocr_pages={**self.ocr_pages(), result.doc_id: loaded.ocr_pages})
        if loaded.encoding == "pdf" and not result.skipped:
            self._keep_source(result.doc_id, data)
        return result

    def source_pdf(self, doc_id: str) -> Path | None:
        """The PDF a document was added from (kept so a citation can show its page), if any."""
        path = self.folder / SOURCES_DIR / f"{doc_id}.pdf"
        return path if path.is_file() else None

    def add_articles(self, articles: list[Article], file_name: str, digest: str, source: str,
                     progress: Progress | None = None, vectors: list[list[float]] | None = None) -> AddResult:
        """Index parsed articles; `vectors` (one per article, from this KB's embedding model)
        skips embedding here, e.g. when a GPU computed them (bench/gpu_embed.py)."""
        if not articles:
            raise KnowledgeBaseError(f"「{file_name}」中没有可索引的文字。/ No text to index in {file_name}.")
        with self._write_lock:
            existing = self._document_by_hash(digest)
            if existing:
                return AddResult(existing.doc_id, existing.file_name, existing.n_articles, True)
            doc_id = digest[:16]
            if vectors is None:
                vectors = self._embed(articles, progress)
            elif len(vectors) != len(articles):
                raise KnowledgeBaseError(f"{len(vectors)} vectors for {len(articles)} articles of {file_name}.")
            rows = []
            for seq, (a, vec) in enumerate(zip(articles, vectors)):
                row = {k: _to_db(k, getattr(a, k)) for k in _ARTICLE_FIELDS}
                row.update(id=f"{doc_id}:{seq}", doc_id=doc_id, file_name=file_name, seq=seq,
                           tokens=" ".join(self.tokenizer.tokens(embed_text(a))), vector=vec)
                rows.append(row)
            if progress:
                progress(0.95, "写入索引 / writing the index")
            self._articles_tbl = self._append("articles", self._articles_tbl, rows)
            doc = DocumentInfo(doc_id, file_name, digest, time.strftime("%Y-%m-%d %H:%M:%S"),
                               len(articles), source)
            self._documents_tbl = self._append("documents", self._documents_tbl, [doc.__dict__])
            if not self._defer_lexical:
                self._rebuild_lexical()
            return AddResult(doc_id, file_name, len(articles), False)

    def remove_document(self, doc_id_or_name: str) -> DocumentInfo:
        with self._write_lock:
            match = [d for d in self.documents() if doc_id_or_name in (d.doc_id, d.file_name)]
            if not match:
                raise KnowledgeBaseError(
                    f"知识库「{self.name}」中没有文档「{doc_id_or_name}」。/ No document "
                    f"{doc_id_or_name!r} in knowledge base {self.name!r}; list them with `python -m rag docs --kb {self.name}`.")
            doc = match[0]
            self._documents_tbl.delete(f"doc_id = '{doc.doc_id}'")  # commit point
            self._articles_tbl.delete(f"doc_id = '{doc.doc_id}'")
            self._rebuild_lexical()
            (self.folder / SOURCES_DIR / f"{doc.doc_id}.pdf").unlink(missing_ok=True)
            return doc

    @contextmanager
    def bulk(self):
        """Add many documents, rebuilding the BM25 index once at the end (also after an error)."""
        with self._write_lock:
            self._defer_lexical = True
            try:
                yield self
            finally:
                self._defer_lexical = False
                self._rebuild_lexical()

    def optimize(self) -> None:
        """Compact the table and, for large KBs, build an ANN index (after bulk ingest)."""
        with self._write_lock:
            if self._articles_tbl is None:
                return
            self._articles_tbl.optimize(cleanup_older_than=timedelta(0))  # drop superseded versions
            if self._documents_tbl is not None:
                self._documents_tbl.optimize(cleanup_older_than=timedelta(0))
            if self._articles_tbl.count_rows() >= DENSE_INDEX_MIN_ROWS:
                self._articles_tbl.create_index(metric="cosine", vector_column_name="vector",
                                                index_type="IVF_HNSW_SQ", replace=True)

    # ---------- internals ----------
    def _embed(self, articles: list[Article], progress: Progress | None) -> list[list[float]]:
        texts = [embed_text(a) for a in articles]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            vectors += self.embedder.get_text_embedding_batch(texts[start:start + EMBED_BATCH])
            if progress:
                done = min(len(texts), start + EMBED_BATCH)
                progress(0.9 * done / len(texts), f"向量化 {done}/{len(texts)} 条 / embedding")
        return vectors

    def reembed(self, model_id: str, progress: Progress | None = None,
                vectors: dict[str, list[float]] | None = None) -> int:
        """Replace every article's vector with this KB's embedder's (or with `vectors`, keyed
        by row id, e.g. computed on a GPU), then record `model_id` in kb.json; returns the count."""
        with self._write_lock:
            n = 0
            if self._articles_tbl is not None and self.articles:
                table = self._articles_tbl.to_arrow()
                ids = table.column("id").to_pylist()
                if vectors is None:
                    by_row = [self.articles[self._snapshot.row_by_id[i]] for i in ids]
                    new = self._embed(by_row, progress)
                else:
                    new = [vectors[i] for i in ids]
                flat = pa.array([x for v in new for x in v], pa.float32())
                column = pa.FixedSizeListArray.from_arrays(flat, len(new[0]))
                table = table.set_column(table.column_names.index("vector"), "vector", column)
                if progress:
                    progress(0.95, "写入索引 / writing the index")
                self._articles_tbl = self._db.create_table("articles", table, mode="overwrite")
                self.optimize()
                n = len(ids)
            self.set_meta(embedder=model_id)
            return n

    def ocr_pages(self) -> dict[str, list[int]]:
        """doc_id → the PDF pages whose text was OCR'd (kb.json; shown beside the documents)."""
        return self.meta().get("ocr_pages", {})

    def meta(self) -> dict:
        path = self.folder / "kb.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def set_meta(self, **values) -> None:
        path, tmp = self.folder / "kb.json", self.folder / "kb.json.tmp"
        tmp.write_text(json.dumps({**self.meta(), **values}, ensure_ascii=False))
        tmp.replace(path)

    def _keep_source(self, doc_id: str, data: bytes) -> None:
        """Written after the document's commit point: a crash here costs only its page images."""
        folder = self.folder / SOURCES_DIR
        folder.mkdir(exist_ok=True)
        tmp = folder / f"{doc_id}.pdf.tmp"
        tmp.write_bytes(data)
        tmp.replace(folder / f"{doc_id}.pdf")

    def _document_by_hash(self, digest: str) -> DocumentInfo | None:
        return next((d for d in self.documents() if d.content_hash == digest), None)

    def _open_table(self, kind: str):
        try:
            return self._db.open_table(kind)
        except (FileNotFoundError, ValueError):
            return None

    def _append(self, kind: str, table, rows: list[dict]):
        data = pa.Table.from_pylist(rows)
        if "vector" in data.column_names:  # LanceDB searches fixed-size float32 vectors
            flat = pa.array([x for r in rows for x in r["vector"]], pa.float32())
            vectors = pa.FixedSizeListArray.from_arrays(flat, len(rows[0]["vector"]))
            data = data.set_column(data.column_names.index("vector"), "vector", vectors)
        if table is None:
            return self._db.create_table(kind, data)
        table.add(data)
        return table

    def _recover(self) -> None:
        """Delete articles whose document row never got written (a crash mid-add)."""
        if self._articles_tbl is None:
            return
        committed = {d.doc_id for d in self.documents()}
        present = {r["doc_id"] for r in self._read_rows(["doc_id"])}
        for orphan in present - committed:
            self._articles_tbl.delete(f"doc_id = '{orphan}'")

    def _read_rows(self, columns: list[str]) -> list[dict]:
        if self._articles_tbl is None:
            return []
        return self._articles_tbl.search().select(columns).limit(None).to_arrow().to_pylist()

    def _load_snapshot(self) -> None:
        rows = self._read_rows(["id", "seq", *_ARTICLE_FIELDS])
        bm25_dir = self.folder / "bm25"
        saved_ids = _read_ids(bm25_dir)
        if saved_ids is not None and set(saved_ids) == {r["id"] for r in rows}:
            order = {i: n for n, i in enumerate(saved_ids)}
            rows.sort(key=lambda r: order[r["id"]])
            bm25 = Bm25Index.load(bm25_dir)
        else:
            bm25 = None
        if bm25 is None:
            self._rebuild_lexical()
            return
        self._snapshot = _Snapshot(self.name, rows, bm25)
        self.tokenizer.add_words(sorted(self._snapshot.laws))

    def _rebuild_lexical(self) -> None:
        rows = self._read_rows(["id", "seq", "tokens", *_ARTICLE_FIELDS])
        rows.sort(key=lambda r: (r["doc_id"], r["seq"]))
        bm25 = Bm25Index.build([r.pop("tokens").split() for r in rows])
        tmp = self.folder / "bm25.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        bm25.save(tmp)
        (tmp / "ids.json").write_text(json.dumps([r["id"] for r in rows]))
        final = self.folder / "bm25"
        old = self.folder / "bm25.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        self._snapshot = _Snapshot(self.name, rows, bm25)
        self.tokenizer.add_words(sorted(self._snapshot.laws))


class _Snapshot:
    """Immutable view used by readers: articles in BM25 row order plus lookup maps."""

    def __init__(self, kb: str, rows: list[dict], bm25: Bm25Index):
        self.articles = [Article(kb=kb, **{k: _from_db(k, r[k]) for k in _ARTICLE_FIELDS}) for r in rows]
        self.bm25 = bm25
        self.row_by_id = {r["id"]: n for n, r in enumerate(rows)}
        self.by_ref: dict[tuple[str, int, int], int] = {}
        for n, a in enumerate(self.articles):
            if a.article_no is not None:
                self.by_ref.setdefault((a.law_short, a.article_no, a.article_suffix), n)
        self.laws = {a.law_short for a in self.articles if a.law_short}


class KnowledgeBases:
    """The library of KBs under one folder (or one LanceDB server URI)."""

    def __init__(self, root: Path, embedder: BaseEmbedding, vector_uri: str | None = None,
                 law_info: LawInfo | None = None):
        self.root = root
        self.law_info = law_info
        self.embedder = embedder
        self.vector_uri = vector_uri
        self.tokenizer = LegalTokenizer()
        self._open: dict[str, KnowledgeBase] = {}
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "kb.json").exists())

    def exists(self, name: str) -> bool:
        return (self.root / name / "kb.json").exists()

    def create(self, name: str, description: str = "") -> KnowledgeBase:
        _check_name(name)
        with self._lock:
            if self.exists(name):
                raise KnowledgeBaseError(f"知识库「{name}」已存在。/ Knowledge base {name!r} already exists.")
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "kb.json").write_text(json.dumps(
                {"name": name, "description": description, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "embedder": embedder_id(self.embedder)}, ensure_ascii=False))
        return self.open(name)

    def open(self, name: str, progress: Progress | None = None) -> KnowledgeBase:
        """Open a KB; one embedded by another model is re-embedded first (see the module doc)."""
        kb = self.open_stored(name)
        current, stored = embedder_id(self.embedder), kb.meta().get("embedder")
        if stored != current:
            if progress and kb.articles:
                progress(0.0, f"知识库「{name}」的向量来自 {stored or '旧模型'}，正在用 {current} 重新向量化 "
                              f"{len(kb.articles)} 条法条 / re-embedding with the current model")
            kb.reembed(current, progress)
        return kb

    def needs_reembed(self, name: str) -> bool:
        """True when the KB holds articles embedded by another model than this library's."""
        kb = self.open_stored(name)
        return bool(kb.articles) and kb.meta().get("embedder") != embedder_id(self.embedder)

    def open_stored(self, name: str) -> KnowledgeBase:
        """Open a KB as stored, without the embedder check (for tools that set vectors themselves)."""
        with self._lock:
            if name in self._open:
                return self._open[name]
            if not self.exists(name):
                raise KnowledgeBaseError(
                    f"没有名为「{name}」的知识库。/ No knowledge base {name!r}. Known: "
                    f"{', '.join(self.names()) or 'none'}; create it with `python -m rag ingest FILE --kb {name}`.")
            folder = self.root / name
            uri = f"{self.vector_uri.rstrip('/')}/{name}" if self.vector_uri else str(folder / "lance")
            kb = KnowledgeBase(name, lancedb.connect(uri), folder, self.embedder, self.tokenizer, self.law_info)
            self._open[name] = kb
            return kb

    def open_or_create(self, name: str) -> KnowledgeBase:
        return self.open(name) if self.exists(name) else self.create(name)

    def delete(self, name: str) -> None:
        with self._lock:
            if not self.exists(name):
                raise KnowledgeBaseError(f"没有名为「{name}」的知识库。/ No knowledge base {name!r}.")
            self._open.pop(name, None)
            shutil.rmtree(self.root / name)


def _check_name(name: str) -> None:
    bad = not name or len(name) > MAX_KB_NAME or name.startswith(".") or any(c in name for c in "/\\\0:*?\"<>|")
    if bad or name != name.strip():
        raise KnowledgeBaseError(
            f"知识库名称「{name}」不可用：1–{MAX_KB_NAME} 个字符，不能含 / \\ : * ? \" < > | 或以 . 开头。"
            f" / Invalid knowledge base name {name!r}.")


def _to_db(key: str, value):
    if key in _INT_FIELDS:
        return -1 if value is None else int(value)
    return value if value is not None else ""


def _from_db(key: str, value):
    if key in _INT_FIELDS:
        return None if value is None or value < 0 else int(value)
    return value


def _read_ids(folder: Path) -> list[str] | None:
    try:
        return json.loads((folder / "ids.json").read_text())
    except (OSError, ValueError):
        return None


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
