"""Answering: from retrieved articles to a streamed, checked answer.

    prompts.py      what the model is told (versioned; a lawyer can read and edit it)
    budget.py       what fits the endpoint's window: article clipping, token estimates, messages
    generate.py     streams the RAG answer, the raw answer, the rewritten follow-up
    verify.py       citations checked by lookup; refusals; when to show the basis instead
    attribution.py  each sentence traced to article words; numbers and negations (claims.py, numbers.py)
    conversation.py one chat turn as data (Reply, Turn), its checks, Markdown export, feedback
    chart_qa.py     the finance-chart page's question

Does not retrieve (rag/retrieval/) or store anything (rag/kb.py); rag/assistant.py runs one
question through retrieval and these steps.
"""
