"""Price article-side expansion (doc2query, issue 32 item 2) on the CPU default: seconds per
article for the embedded chat model to write a few lay questions and keywords for one article.

    python bench/doc2query_price.py [--articles 6] [--threads 2]

Takes every n-th article of the default 劳动法规 KB (data/bench/app, as bench/retrieval.py builds
it), asks the embedded model (settings.embedded_model, the 1.5B Q4 GGUF, llama.cpp in this
process with --threads CPU threads) with PROMPT, and prints prompt and output tokens and
seconds per article, then what that costs for the default KB and larger ones.

Does not: keep the output, index it, or judge its quality (this prices the lever, nothing more).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PROMPT_VERSION = "2026-12-07.1"
PROMPT = ("下面是一条法律条文。请写出3个普通人遇到这类事时会问的简短问题（用口语，不要用法律术语），"
          "再写出5个口语关键词。只输出问题和关键词，每行一个。\n\n{article}")
MAX_TOKENS = 160
KB_SIZES = {"default 劳动法规": 777, "topical bench KB": 6768, "lawrefbook": 65238}


def main() -> None:
    from llama_cpp import Llama

    from rag.kb import embed_text
    from retrieval import default_kb_and_rows
    from server.weights.gguf import model_file
    from settings import get_settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    settings = get_settings()
    kb, _, _ = default_kb_and_rows(ROOT.parent / "shared" / "data" / "eval" / "stard_labor_dev.jsonl")
    articles = kb.articles[:: max(1, len(kb.articles) // args.articles)][:args.articles]
    t0 = time.perf_counter()
    llm = Llama(model_path=str(model_file(settings.embedded_model, settings.models_dir)), n_ctx=2048,
                n_threads=args.threads, verbose=False)
    print(f"model {settings.embedded_model} loaded in {time.perf_counter() - t0:.1f} s, {args.threads} threads, "
          f"prompt {PROMPT_VERSION}")
    seconds, prompt_tokens, output_tokens = [], [], []
    for a in articles:
        t = time.perf_counter()
        out = llm.create_chat_completion(messages=[{"role": "user", "content": PROMPT.format(article=embed_text(a))}],
                                         max_tokens=MAX_TOKENS, temperature=0.0)
        seconds.append(time.perf_counter() - t)
        prompt_tokens.append(out["usage"]["prompt_tokens"])
        output_tokens.append(out["usage"]["completion_tokens"])
        text = out["choices"][0]["message"]["content"].strip().replace("\n", " / ")
        print(f"  {a.law_short}{a.article_cn}: {seconds[-1]:.1f} s, {prompt_tokens[-1]} + {output_tokens[-1]} tokens: {text[:90]}")
    per = statistics.mean(seconds)
    print(f"{len(articles)} articles: mean {per:.1f} s (median {statistics.median(seconds):.1f} s), "
          f"prompt {statistics.mean(prompt_tokens):.0f} tokens, output {statistics.mean(output_tokens):.0f} tokens")
    for name, n in KB_SIZES.items():
        print(f"  {name} ({n:,} articles): {n * per / 3600:.1f} h on this machine")


if __name__ == "__main__":
    main()
