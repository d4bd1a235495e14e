"""Lexical side of retrieval: jieba tokens with a legal user dictionary, and a BM25 index.

LlamaIndex's default BM25 tokenises by whitespace and scores Chinese as all zeros
(llama_index #13866), so tokens come from jieba (search mode, which also emits the
sub-words of long compounds) and the index is bm25s (sparse matrices, saved as .npy).

`Bm25Index.search` also takes weighted extra terms (the term bridge's statute words,
rag/retrieval/bridge.py): each adds its BM25 score times its weight.

Does not: stem, or handle languages other than Chinese and English well.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

import bm25s
import jieba
import numpy as np

from rag.documents.statutes import cn_to_int
from rag.text import LEGAL_TERMS, STOPWORDS

jieba.setLogLevel(logging.WARNING)

_TOKEN_RE = re.compile(r"[\w\u4e00-\u9fff]")
# 一年 / 十五日 / 三个月 / 二倍 → 1年 / 15日 / 3个月 / 2倍, so questions and statutes that write
# amounts differently (已满1年不满10年 vs 满一年不满十年) share tokens. Only before a unit,
# so words such as 一般, 统一, 万一 stay as they are.
_AMOUNT_RE = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=个?(?:年|月|日|天|周|倍|岁|小时|工作日|%|％))")


class LegalTokenizer:
    """A private jieba instance (the global one is shared with other code) plus legal words."""

    def __init__(self, extra_words: list[str] | tuple[str, ...] = ()):
        self._jieba = jieba.Tokenizer()
        self._lock = threading.Lock()  # jieba's lazy initialisation is not thread-safe
        with self._lock:
            self._jieba.initialize()
            for word in (*LEGAL_TERMS, *extra_words):
                self._jieba.add_word(word, freq=20000)

    def add_words(self, words: list[str]) -> None:
        with self._lock:
            for word in words:
                if word:
                    self._jieba.add_word(word, freq=20000)

    def tokens(self, text: str) -> list[str]:
        text = _AMOUNT_RE.sub(_amount_to_digits, text.lower())
        out = []
        for tok in self._jieba.cut_for_search(text):
            tok = tok.strip()
            if tok and tok not in STOPWORDS and _TOKEN_RE.search(tok):
                out.append(tok)
        return out


def _amount_to_digits(m: re.Match) -> str:
    try:
        return str(cn_to_int(m.group()))
    except ValueError:
        return m.group()


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
