"""Ingestion: file bytes → pages (rag/documents/load) → articles (rag/documents/statutes) → law status →
vectors → one document in a knowledge base; and re-embedding a KB with the current model.

The slow steps (OCR, embedding) run before the KB's writer lock is taken, so a long upload
does not shut other writers out; the KB checks the content hash again under the lock, so the
same file sent twice at once is stored once. A file already in the KB returns at once.
"""
from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.kb import AddResult, KnowledgeBase, Progress, content_hash, embed_text, embedder_id
from rag.documents.directives import addresses_reader
from rag.documents.load import read_document
from rag.store.base import OnWait
from rag.types import Article

EMBED_BATCH = 32


def _scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    return progress and (lambda f, msg: progress(start + (end - start) * f, msg))


def embed_articles(embedder: BaseEmbedding, articles: list[Article],
                   progress: Progress | None = None) -> list[list[float]]:
    texts = [embed_text(a) for a in articles]
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors += embedder.get_text_embedding_batch(texts[start:start + EMBED_BATCH])
        if progress:
            done = min(len(texts), start + EMBED_BATCH)
            progress(0.9 * done / len(texts), f"向量化 {done}/{len(texts)} 条 / embedding")
    return vectors


def ingest_file(kb: KnowledgeBase, data: bytes, file_name: str, max_bytes, source: str = "upload",
                progress: Progress | None = None, on_wait: OnWait | None = None,
                keep_partial: bool = False) -> AddResult:
    """Parse, embed and store one file; raises DocumentError before writing anything.
    `max_bytes`: a byte limit or rag.documents.load.DocumentLimits. A file that lost text
    (damaged pages, article numbers that jump) is refused unless keep_partial: then its
    readable part is stored and the KB records what is missing (`KnowledgeBase.partial()`)."""
    digest = content_hash(data)
    existing = next((d for d in kb.store.documents() if d.content_hash == digest), None)
    if existing:
        return AddResult(existing.doc_id, existing.file_name, existing.n_articles, True,
                         kb.ocr_pages().get(existing.doc_id, []), kb.partial().get(existing.doc_id, ""))
    # OCR (when a PDF has scanned pages) reports the first half of the progress, embedding the rest
    parsed = read_document(data, file_name, max_bytes, _scaled(progress, 0.0, 0.5), keep_partial)
    loaded, articles = parsed.loaded, parsed.articles
    if loaded.ocr_pages:
        progress = _scaled(progress, 0.5, 1.0)
    enrich(kb, articles)
    vectors = embed_articles(kb.embedder, articles, progress) if articles else []
    result = kb.add_articles(articles, file_name, digest, source, vectors, progress, on_wait,
                             ocr_pages=loaded.ocr_pages, pdf=data if loaded.encoding == "pdf" else None,
                             missing=parsed.missing)
    result.directives = [a.article_cn or a.article_id for a in articles if addresses_reader(a.text)]
    return result


def enrich(kb: KnowledgeBase, articles: list[Article]) -> None:
    """Fill each article's status and effective date from the KB's law lookup, where known."""
    info = kb.law_info(articles[0].law_title) if kb.law_info and articles and articles[0].law_title else None
    for a in articles if info else []:
        a.status = a.status or info["status"]
        a.effective_date = a.effective_date or info["effective_date"]


def reembed(kb: KnowledgeBase, progress: Progress | None = None,
            vectors: dict[str, list[float]] | None = None) -> int:
    """Replace every article's vector with the current embedder's (or with `vectors`, keyed by
    row id, e.g. computed on a GPU) and record the model in the KB's metadata; returns the count."""
    with kb.writing():  # no document comes or goes while the vectors are replaced
        snap = kb.snapshot(fresh=True)
        if vectors is None and snap.articles:
            vectors = dict(zip(snap.ids, embed_articles(kb.embedder, snap.articles, progress)))
        if progress and snap.articles:
            progress(0.95, "写入索引 / writing the index")
        kb.set_vectors(vectors or {}, embedder_id(kb.embedder))
    return len(snap.articles)
