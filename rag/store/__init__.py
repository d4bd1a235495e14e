"""Storage of KBs: base.py is the protocol every store meets (and its contract tests follow);
lance.py the embedded default (LanceDB folders), pg.py PostgreSQL + pgvector.

Does not parse documents, embed text or rank results (rag/documents/, rag/retrieval/).
"""
