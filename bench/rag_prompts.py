"""Write the RAG-shaped load for bench/serving.py --rag: real prompts, built here on the CPU.

For each of the 24 labor questions (knowledge/examples/labor_questions.jsonl and
bench/labor_questions.jsonl) the default 劳动法规 KB is searched with the project's own
retriever (rag.defaults.retriever_from, top_k from settings) and the messages are built by
rag.answer.budget.rag_messages with the article budget rag.defaults.answer_options gives a LightLLM
endpoint started by `python -m server launch` (context_tokens = max_req_total_len, 8192 by
default): the exact system + user turns the chat page sends. The output JSONL (one line per
question: id, question, messages, article labels, characters, and prompt tokens counted with
--tokenizer when given) travels to the GPU machine, which has no KB and no embedder.

Does not talk to any model.

With this KB's statutes (~170 characters an article) the builder's defaults (top_k 8, at most
10 articles) give 0.6-1.3k-token prompts; `--k 30 --max-articles 30 --context-tokens 32768`
(Qwen3-8B's own window) gives the 2-4k-token prompts of a deployment that sends more context.

    python bench/rag_prompts.py --out bench/rag_prompts.jsonl [--tokenizer DIR]
    python bench/rag_prompts.py --out bench/rag_prompts_long.jsonl --k 30 --max-articles 30 --context-tokens 32768
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTION_FILES = [ROOT / "knowledge/examples/labor_questions.jsonl", ROOT / "bench/labor_questions.jsonl"]


def questions() -> list[dict]:
    rows = []
    for path in QUESTION_FILES:
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/rag_prompts.jsonl")
    ap.add_argument("--context-tokens", type=int, default=None,
                    help="endpoint window (default: settings.max_req_total_len, what the launcher serves)")
    ap.add_argument("--tokenizer", type=Path, help="a folder with tokenizer.json to count prompt tokens")
    ap.add_argument("--k", type=int, default=None, help="articles retrieved (default: settings.top_k)")
    ap.add_argument("--max-articles", type=int, default=None,
                    help="override rag.answer.budget.MAX_ARTICLES (10): the builder's cap on articles in one prompt")
    args = ap.parse_args()

    import rag.answer.budget
    from rag.answer.budget import rag_messages
    from rag.defaults import answer_options, library_from, open_kb, retriever_from
    from settings import Endpoint, get_settings

    s = get_settings()
    if args.max_articles:
        rag.answer.budget.MAX_ARTICLES = args.max_articles
    endpoint = Endpoint(base_url="http://gpu/v1", model="legal", context_tokens=args.context_tokens or s.max_req_total_len)
    options = answer_options(endpoint)
    kb = open_kb(library_from(s), s.default_kb, s.default_kb)
    retriever = retriever_from(s, kb)
    tok = None
    if args.tokenizer:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(args.tokenizer / "tokenizer.json"))
    with args.out.open("w", encoding="utf-8") as f:
        for q in questions():
            r = retriever.retrieve(q["question"], k=args.k or s.top_k)
            messages = rag_messages(q["question"], r.citations, r.abstain, budget=options["budget"])
            row = {"id": q["query_id"], "question": q["question"], "messages": messages,
                   "articles": [c.label for c in r.citations], "abstain": r.abstain,
                   "chars": sum(len(m["content"]) for m in messages), "budget_chars": options["budget"],
                   "context_tokens": endpoint.context_tokens, "max_articles": rag.answer.budget.MAX_ARTICLES}  # fmt: skip
            if tok is not None:  # ChatML as the served template renders it, + the generation prompt
                text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
                row["prompt_tokens"] = len(tok.encode(text + "<|im_start|>assistant\n").ids)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            print(row["id"], len(r.citations), row["chars"], row.get("prompt_tokens", ""), flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
