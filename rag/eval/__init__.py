"""Evaluation of chat endpoints, kept apart from the answering core.

Owns: datasets (rag/eval/datasets.py) → batch prediction, resumable and concurrent
(evaluate.py) → BLEU-4/ROUGE/MCQ accuracy and retrieval metrics (metrics.py); the LLM
judge comparing two endpoints (judge.py); the `python -m rag eval` CLI (cli.py).
Does not answer questions: RAG mode borrows rag.answer through a hook, and endpoints are
resolved by the callers.
"""
