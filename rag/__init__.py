"""Plain-Python core of the legal assistant, by capability (docs/ARCHITECTURE.md):

    documents/   a file → pages → statute articles (load, pdf, ocr, word, encodings, statutes)
    store/       where KBs live: the protocol (base), LanceDB (lance), PostgreSQL (pg)
    kb.py        KnowledgeBase and the library of KBs; ingest.py file → articles → vectors → store
    retrieval/   lexical, embeddings (+ e5 conversion, trained adapters/), hybrid, refs
    answer/      prompts, budget, generate, verify, attribution, conversation, cli
    review/      blind review sets and their statistics
    eval/        batch evaluation (BLEU-4 / ROUGE, MCQ, judge) and the answer benchmark's scoring
    defaults.py  the one place that builds the parts from settings

Never imports streamlit or knowledge/ (the statute sources sit above the core); the app
pages, the CLI and the benches call the same functions.
"""
