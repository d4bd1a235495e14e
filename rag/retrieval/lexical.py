"""Lexical side of retrieval: a BM25 index over the tokens the KB stores, and its cache.

LlamaIndex's default BM25 tokenises by whitespace and scores Chinese as all zeros
(llama_index #13866), so tokens come from jieba (rag.text.LegalTokenizer, search mode, which
also emits the sub-words of long compounds; the KB stores each article's tokens) and the
index is bm25s (sparse matrices, saved as .npy).

`bm25_of(snapshot)` is the index of exactly one KB snapshot's rows: kept per snapshot, carried
over to the next snapshot of the same article set (a change of vectors or metadata only), and
cached on local disk in the KB's cache folder by a digest of the article ids.

`Bm25Index.search` also takes weighted extra terms (the term bridge's statute words,
rag/retrieval/bridge.py): each adds its BM25 score times its weight.

Does not: tokenize (the KB's tokenizer does), stem, or handle languages other than Chinese and
English well.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import uuid
import weakref
from pathlib import Path

import bm25s
import numpy as np

from rag.kb import Snapshot

BM25_CACHE_KEEP = 3  # cached BM25 indexes kept per KB (older article sets are deleted)


class Bm25Index:
    """BM25 over pre-tokenised rows; row i of the index is row i of the KB's article table."""

    def __init__(self, model: bm25s.BM25 | None, size: int):
        self._model = model
        self.size = size

    @classmethod
    def build(cls, token_rows: list[list[str]]) -> "Bm25Index":
        if not token_rows:
            return cls(None, 0)
        model = bm25s.BM25()
        # Empty rows would make bm25s drop them and shift row numbers: pad with a sentinel.
        model.index([row or ["<empty>"] for row in token_rows], show_progress=False)
        return cls(model, len(token_rows))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(folder), show_progress=False)
        (folder / "size.json").write_text(json.dumps({"size": self.size}))

    @classmethod
    def load(cls, folder: Path) -> "Bm25Index | None":
        try:
            size = json.loads((folder / "size.json").read_text())["size"]
        except (OSError, ValueError, KeyError):
            return None
        if size == 0:
            return cls(None, 0)
        return cls(bm25s.BM25.load(str(folder), mmap=False), size)

    def search(self, tokens: list[str], k: int,
               extra: list[tuple[str, float]] | tuple = ()) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and scores of the best k rows with a positive score; `extra` (term,
        weight) pairs add weight × that term's BM25 score."""
        rows, scores, _ = self.search_with_best(tokens, k, extra)
        return rows, scores

    def search_with_best(self, tokens: list[str], k: int, extra: list[tuple[str, float]] | tuple = ()
                         ) -> tuple[np.ndarray, np.ndarray, float]:
        """`search`, plus the best score of `tokens` alone (what the abstain thresholds were
        calibrated on: extra terms must not make an off-topic question look answerable). When
        none of `tokens` is in the index nothing is found, whatever `extra` holds."""
        empty = np.zeros(0, dtype=int), np.zeros(0), 0.0
        if self._model is None or not tokens:
            return empty
        vocab = self._model.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return empty
        scores = self._model.get_scores(known)
        best = float(scores.max())
        for term, weight in extra:
            if term in vocab:
                scores = scores + weight * self._model.get_scores([term])
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        keep = scores[top] > 0
        return top[keep], scores[top][keep], best


_guard = threading.Lock()
_locks: dict[Path, threading.Lock] = {}  # per KB cache folder: queries on a new snapshot wait for one build
_by_snapshot: "weakref.WeakKeyDictionary[Snapshot, Bm25Index]" = weakref.WeakKeyDictionary()
_latest: dict[Path, tuple[list[str], Bm25Index]] = {}  # per KB cache folder: the last article ids and index


def bm25_of(snap: Snapshot) -> Bm25Index:
    """The BM25 index of exactly this snapshot's rows (row i is snap.articles[i])."""
    index = _by_snapshot.get(snap)
    if index is not None:
        return index
    with _guard:
        lock = _locks.setdefault(snap.cache_dir, threading.Lock())
    with lock:
        index = _by_snapshot.get(snap)
        if index is None:
            latest = _latest.get(snap.cache_dir)
            if latest is not None and latest[0] == snap.ids:
                index = latest[1]  # only vectors or metadata changed
            else:
                index = _cached_or_built(snap.cache_dir / "bm25", snap.ids, snap.tokens)
            _latest[snap.cache_dir] = (snap.ids, index)
            _by_snapshot[snap] = index
    return index


def _cached_or_built(folder: Path, ids: list[str], tokens: list[str]) -> Bm25Index:
    """From the local cache, else built and cached."""
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]
    cached = folder / digest
    try:
        if _read_ids(cached) == ids:
            index = Bm25Index.load(cached)
            if index is not None:
                return index
    except Exception:  # noqa: BLE001 - a cache being pruned by another process: rebuild
        pass
    index = Bm25Index.build([row.split() for row in tokens])
    try:
        _save(index, ids, folder, cached)
    except OSError:
        pass  # a read-only or full disk costs only the cache
    return index


def _save(index: Bm25Index, ids: list[str], folder: Path, final: Path) -> None:
    tmp = folder / f".tmp-{uuid.uuid4().hex}"
    index.save(tmp)
    (tmp / "ids.json").write_text(json.dumps(ids))
    try:
        tmp.rename(final)
    except OSError:  # another process cached the same set first
        shutil.rmtree(tmp, ignore_errors=True)
    kept = 1
    for old in sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if old == final:
            continue
        if old.is_file():
            old.unlink(missing_ok=True)  # the single-index layout of earlier versions
        elif old.name.startswith(".tmp-"):
            if time.time() - old.stat().st_mtime > 3600:  # left by a killed process
                shutil.rmtree(old, ignore_errors=True)
        elif kept < BM25_CACHE_KEEP:
            kept += 1
        else:
            shutil.rmtree(old, ignore_errors=True)


def _read_ids(folder: Path) -> list[str] | None:
    try:
        return json.loads((folder / "ids.json").read_text())
    except (OSError, ValueError):
        return None
