"""Errors the rag core raises; every message names the thing and what to do about it."""


class RagError(Exception):
    """Base class: the message is written for the person who sees it."""


class DocumentError(RagError):
    """A file could not be turned into documents (nothing was written to any KB)."""


class PartialDocumentError(DocumentError):
    """The file lost text (damaged pages, article numbers that jump): its readable part can be
    kept on request (keep_partial), marked as partial in the KB."""


class KnowledgeBaseError(RagError):
    """A knowledge base operation failed (unknown KB, name clash, storage problem)."""
