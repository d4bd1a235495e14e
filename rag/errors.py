"""Errors the rag core raises; every message names the thing and what to do about it."""
from __future__ import annotations

import re


class RagError(Exception):
    """Base class: the message is written for the person who sees it."""


class DocumentError(RagError):
    """A file could not be turned into documents (nothing was written to any KB)."""


class PartialDocumentError(DocumentError):
    """The file lost text (damaged pages, article numbers that jump): its readable part can be
    kept on request (keep_partial), marked as partial in the KB."""


class KnowledgeBaseError(RagError):
    """A knowledge base operation failed (unknown KB, name clash, storage problem)."""


def chinese_part(message: str) -> str:
    """The Chinese half of a bilingual message 「中文 … / English …」: the page speaks Chinese, the
    CLI prints both. A message without an English half comes back unchanged."""
    start = 0
    while (i := message.find(" / ", start)) >= 0:
        rest = message[i + 3:]
        if re.search(r"\b[a-z]{3,}\b", rest) and sum(c.isascii() for c in rest) >= 0.8 * len(rest):  # English prose
            return message[:i].rstrip()
        start = i + 3
    return message
