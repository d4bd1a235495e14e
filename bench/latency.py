"""Answer latency on the embedded CPU server: every lever beside the baseline, in one run.

    python bench/latency.py [--questions N] [--variants base,cache,...] [--pairs N] [--json FILE]

Each variant is a llama_cpp.server started through server/embedded.py (the product's code
path, its own state dir and port) with extra flags, plus client-side options (article budget,
raw answer cap, where the raw request goes). Each variant has a server of its own. Per
question, retrieval runs once (timed: what the UI needs before it can show the articles) and
every variant answers it, in an order rotated per question, so background load on the shared
cores hits all of them alike. Questions: the demo question (knowledge/demo_questions.py) and
the first N of ../shared/data/eval/stard_labor_dev.jsonl (measuring only), on the default
劳动法规 KB of the data dir (built on first use).

Per variant: RAG first-token latency p50/p95 (from sending the request; "ask→token" adds
retrieval), decode tok/s after the first token, total, prompt and answer tokens (counted with
the model's own tokenizer). --pairs N also asks the first N questions (the demo first) as the
chat's comparison mode does: RAG and raw started together (RAG first), and reports when both
are complete. Prints uptime's load average at the start and after each question.

Does not assert anything, and does not judge answer quality (bench/answers.py does).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge.demo_questions import DEMO_QUESTION  # noqa: E402
from rag.answer.budget import context_chars, fit_rag_messages, raw_messages  # noqa: E402
from rag.answer.generate import answer, raw  # noqa: E402
from rag.eval.metrics import percentile  # noqa: E402
from rag.defaults import answer_options, library_from, open_kb, retriever_from, sampling_for  # noqa: E402
from server import embedded  # noqa: E402
from server.client import ChatClient  # noqa: E402
from server.weights.gguf import model_file  # noqa: E402
from settings import Endpoint, get_settings  # noqa: E402

QUESTIONS = ROOT.parent / "shared" / "data" / "eval" / "stard_labor_dev.jsonl"
MODEL = "qwen2.5-coder-1.5b"
TEMPLATE_TOKENS = 5  # <|im_start|>role\n … <|im_end|>\n per message, beyond its text


@dataclass(frozen=True)
class Variant:
    name: str
    flags: tuple[str, ...] = ()  # llama_cpp.server options after the product's defaults
    threads: int = 2
    budget: int | None = None  # article characters; None: the product's answer_options
    raw_max_tokens: int | None = None  # cap on the raw answer in a pair; None: same as RAG
    raw_server: bool = False  # the raw answer of a pair goes to a second server (same flags)
    shipped: bool = False  # the product's own flags (server/embedded.py SPEED_FLAGS), not `flags`
    what: str = ""


# The baseline is the seed's server: no prompt cache, no draft, 2 threads, one request at a time.
BASE_FLAGS = ("--cache", "false")
VARIANTS = {v.name: v for v in (
    Variant("base", BASE_FLAGS, what="seed: no cache, no draft, 2 threads, budget from the window"),
    Variant("cache", BASE_FLAGS + ("--cache", "true", "--cache_type", "ram"), what="llama.cpp RAM prompt cache"),
    Variant("lookup4", BASE_FLAGS + ("--draft_model", "prompt-lookup-decoding",
                                     "--draft_model_num_pred_tokens", "4"), what="prompt-lookup decoding, 4 tokens"),
    Variant("lookup10", BASE_FLAGS + ("--draft_model", "prompt-lookup-decoding",
                                      "--draft_model_num_pred_tokens", "10"), what="prompt-lookup decoding, 10 tokens"),
    Variant("flash", BASE_FLAGS + ("--flash_attn", "true"), what="flash attention"),
    Variant("threads1", BASE_FLAGS, threads=1, what="1 thread (decode and prefill)"),
    Variant("dec1", BASE_FLAGS + ("--n_threads", "1"), what="decode on 1 thread, prefill (n_threads_batch) on 2"),
    Variant("budget900", BASE_FLAGS, budget=900, what="article budget 900 characters"),
    Variant("budget1200", BASE_FLAGS, budget=1200, what="article budget 1,200 characters"),
    Variant("budget600", BASE_FLAGS, budget=600, what="article budget 600 characters"),
    Variant("rawcap", BASE_FLAGS, raw_max_tokens=256, what="pair: raw answer capped at 256 tokens"),
    Variant("twoservers", BASE_FLAGS, threads=1, raw_server=True,
            what="pair: raw on a second server, 1 thread each"),
    Variant("shipped", shipped=True, what="the product's defaults as shipped"),
)}


@dataclass
class Timing:
    ttft: float | None = None
    total: float = 0.0
    prompt_tokens: int = 0
    answer_tokens: int = 0
    decode_tps: float | None = None
    text: str = ""
    error: str = ""


@dataclass
class Row:
    question: int
    variant: str
    retrieval_s: float
    rag: Timing = field(default_factory=Timing)
    raw: Timing | None = None
    pair_s: float | None = None  # both answers complete, from sending the first request


class Tokens:
    """The model's own tokenizer (vocab only, no weights loaded into compute)."""

    def __init__(self, path: Path):
        from llama_cpp import Llama

        self._llm = Llama(str(path), vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True)) if text else 0

    def prompt(self, messages: list[dict]) -> int:
        return sum(self.count(m["content"]) + TEMPLATE_TOKENS for m in messages) + 3  # + assistant header


def timed(start, sent: float, tokens: Tokens, prompt_tokens: int) -> Timing:
    t = Timing(prompt_tokens=prompt_tokens)
    stamps = []
    try:
        for d in start():
            if d.kind != "answer" or not d.text:
                continue
            stamps.append(time.perf_counter())
            t.text += d.text
    except Exception as e:  # noqa: BLE001 - a failed request is a row, not a crash
        t.error = f"{type(e).__name__}: {e}"
    t.total = time.perf_counter() - sent
    if stamps:
        t.ttft = stamps[0] - sent
        t.answer_tokens = tokens.count(t.text)
        if len(stamps) > 1 and t.answer_tokens > 1:
            t.decode_tps = (t.answer_tokens - 1) / (stamps[-1] - stamps[0])
    return t


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1): rag.eval.metrics.percentile."""
    return percentile(values, q * 100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=5, help="STARD labour dev questions besides the demo")
    ap.add_argument("--variants", default="base,cache,lookup4,lookup10,threads1,dec1,budget900")
    ap.add_argument("--max-tokens", type=int, default=64,
                    help="answer cap of the single RAG rows (the article budget still uses the product's cap)")
    ap.add_argument("--pairs", type=int, default=0, help="also ask the first N questions as RAG + raw pairs")
    ap.add_argument("--pair-variants", default="base,rawcap,twoservers", help="variants run in pair mode")
    ap.add_argument("--json", type=Path, default=None, help="write every row here")
    ap.add_argument("--coverage", action="store_true",
                    help="no model: for every labour question, is a gold article still in the prompt at each "
                         "variant's article budget (the quality side of a smaller budget), and its prompt tokens")
    args = ap.parse_args()

    settings = get_settings()
    variants = [VARIANTS[n] for n in args.variants.split(",") if n]
    pair_variants = [VARIANTS[n] for n in args.pair_variants.split(",") if n] if args.pairs else []
    print(f"start {time.strftime('%H:%M:%S')} · {load()} · cores {os.cpu_count()}", flush=True)
    kb = open_kb(library_from(settings), settings.default_kb, settings.default_kb)
    retriever = retriever_from(settings, kb)
    retriever.retrieve("预热")
    rows_in = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [DEMO_QUESTION] + [r["question"] for r in rows_in[:args.questions]]
    tokens = Tokens(model_file(MODEL, settings.models_dir))
    if args.coverage:
        return coverage(rows_in, variants, retriever, tokens, settings)

    run_dir = Path(tempfile.mkdtemp(prefix="latency-"))
    servers: dict[tuple, ChatClient] = {}

    def client(v: Variant, second: bool = False, paired: bool = False) -> ChatClient:
        # Every variant, and every pair, gets a server of its own: a server that just answered
        # the same question (another variant's, with the same flags) would reuse the prompt
        # from its KV cache and measure nothing (a budget variant once read 4.7 s that way).
        key = (v.name, second, paired)
        if key not in servers:
            flags = None if v.shipped else list(v.flags)  # None: the product's SPEED_FLAGS
            state = run_dir / f"s{len(servers)}"
            t0 = time.perf_counter()
            endpoint = embedded.ensure_running(MODEL, settings.models_dir, state, v.threads, settings.embedded_ctx,
                                               flags=flags)
            servers[key] = ChatClient(endpoint, f"latency-{v.name}", timeout=settings.request_timeout_s)
            print(f"  server for {v.name}: {endpoint.base_url} ready in {time.perf_counter() - t0:.1f} s "
                  f"flags {' '.join(flags if flags is not None else embedded.SPEED_FLAGS)}", flush=True)
        return servers[key]

    rows: list[Row] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` still stops the servers
    try:
        for v in variants:  # start every server before measuring
            client(v)
        for v in pair_variants:
            client(v, paired=True)
            if v.raw_server:
                client(v, second=True, paired=True)
        for qi, question in enumerate(questions):
            t0 = time.perf_counter()
            found = retriever.retrieve(question, k=settings.top_k)
            retrieval_s = time.perf_counter() - t0
            order = variants[qi % len(variants):] + variants[:qi % len(variants)]
            for v in order:
                c = client(v)
                options = answer_options(c.endpoint)
                if v.budget is not None:
                    options["budget"] = v.budget
                options["max_tokens"] = args.max_tokens  # after the budget: it is the product's
                sampling = {k: x for k, x in options.items() if k != "budget"}
                messages = fit_rag_messages(question, found.citations, found.abstain, options["budget"],
                                            c.token_limit, sampling["max_tokens"])[0]
                sent = time.perf_counter()
                row = Row(qi, v.name, retrieval_s)
                row.rag = timed(lambda: answer(question, found.citations, c, found.abstain, **options), sent,
                                tokens, tokens.prompt(messages))
                rows.append(row)
                print(f"    q{qi} {v.name}: first token {row.rag.ttft or float('nan'):.2f} s, "
                      f"{row.rag.decode_tps or float('nan'):.1f} tok/s, {row.rag.prompt_tokens} prompt tok "
                      f"{row.rag.error} · {load()}", flush=True)
            if qi < args.pairs:
                porder = pair_variants[qi % len(pair_variants):] + pair_variants[:qi % len(pair_variants)]
                for v in porder:
                    rows.append(pair(v, question, found, client, tokens, retrieval_s, qi))
                    r = rows[-1]
                    print(f"    q{qi} {r.variant}: RAG first token {r.rag.ttft or float('nan'):.2f} s, "
                          f"both done {r.pair_s:.1f} s · {load()}", flush=True)
            print(f"  question {qi + 1}/{len(questions)} done, {time.strftime('%H:%M:%S')} · {load()}", flush=True)
    finally:  # a run cut short (timeout, Ctrl-C) still reports what it measured
        for state in run_dir.iterdir():
            embedded.stop(state)
        report(rows, variants, pair_variants)
    if args.json:
        args.json.write_text(json.dumps([_as_dict(r) for r in rows], ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"end {time.strftime('%H:%M:%S')} · {load()}")


def coverage(rows: list[dict], variants: list[Variant], retriever, tokens: Tokens, settings) -> None:
    """Per budget: prompt tokens and the share of questions with a gold article among the articles
    the prompt holds (retrieval alone says nothing of what a smaller budget drops)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from retrieval import gold_keys, matched_gold

    options = answer_options(Endpoint(context_tokens=settings.embedded_ctx))  # the embedded server's window
    print(f"\nGold article in the prompt, {len(rows)} questions of {QUESTIONS.name} (no model call)")
    print("| variant | article chars | prompt tok p50 / p95 | articles in prompt p50 | gold article in prompt "
          f"| gold in top {settings.top_k} retrieved |")
    print("|---|---|---|---|---|---|")
    found = [(r, retriever.retrieve(r["question"], k=settings.top_k)) for r in rows]
    for v in variants:
        budget = v.budget if v.budget is not None else options["budget"]
        toks, kept_n, shown, retrieved = [], [], 0, 0
        for r, f in found:
            gold = gold_keys(r["gold_articles"])
            messages, kept, _ = fit_rag_messages(r["question"], f.citations, f.abstain, budget, settings.embedded_ctx,
                                                 options["max_tokens"])
            toks.append(tokens.prompt(messages))
            kept_n.append(kept)
            hit = [bool(matched_gold(c.article.law_title, c.article.article_no, c.article.text, gold))
                   for c in f.citations]
            shown += any(hit[:kept])
            retrieved += any(hit)
        n = len(found)
        print(f"| {v.name} | {budget} | {statistics.median(toks):.0f} / {pct(toks, 0.95):.0f} | "
              f"{statistics.median(kept_n):.0f} | {shown}/{n} ({shown / n:.1%}) | {retrieved}/{n} ({retrieved / n:.1%}) |")


def pair(v: Variant, question: str, found, client, tokens: Tokens, retrieval_s: float, qi: int) -> Row:
    """RAG and raw as the chat's comparison mode sends them: two threads, RAG started first."""
    c = client(v, paired=True)
    c_raw = client(v, second=True, paired=True) if v.raw_server else c
    options = answer_options(c.endpoint)
    if v.budget is not None:
        options["budget"] = v.budget
    raw_sampling = sampling_for(c.endpoint)
    if v.raw_max_tokens:
        raw_sampling["max_tokens"] = v.raw_max_tokens
    messages = fit_rag_messages(question, found.citations, found.abstain, options["budget"],
                                c.token_limit, options["max_tokens"])[0]
    row = Row(qi, f"pair:{v.name}", retrieval_s)
    out: dict[str, Timing] = {}
    sent = time.perf_counter()
    rag_thread = threading.Thread(target=lambda: out.__setitem__("rag", timed(
        lambda: answer(question, found.citations, c, found.abstain, **options), sent, tokens, tokens.prompt(messages))))
    raw_thread = threading.Thread(target=lambda: out.__setitem__("raw", timed(
        lambda: raw(question, c_raw, **raw_sampling), sent, tokens, tokens.prompt(raw_messages(question)))))
    rag_thread.start()
    time.sleep(0.05)  # the app starts the RAG column's thread first
    raw_thread.start()
    rag_thread.join()
    raw_thread.join()
    row.pair_s = time.perf_counter() - sent
    row.rag, row.raw = out["rag"], out["raw"]
    return row


def _as_dict(r: Row) -> dict:
    d = {"question": r.question, "variant": r.variant, "retrieval_s": r.retrieval_s, "pair_s": r.pair_s,
         "rag": vars(r.rag)}
    if r.raw:
        d["raw"] = vars(r.raw)
    return d


def report(rows: list[Row], variants: list[Variant], pair_variants: list[Variant]) -> None:
    print("\nRAG answers (all questions; first token from sending the request)")
    print("| variant | n | prompt tok p50 | first token p50 / p95 s | ask→token p50 s | decode tok/s p50 | "
          "answer tok p50 | total p50 / p95 s | errors | what |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        rs = [r for r in rows if r.variant == v.name]
        ok = [r for r in rs if r.rag.ttft is not None]
        ttft = [r.rag.ttft for r in ok]
        print(f"| {v.name} | {len(ok)} | {statistics.median([r.rag.prompt_tokens for r in rs]):.0f} | "
              f"{pct(ttft, .5):.2f} / {pct(ttft, .95):.2f} | "
              f"{pct([r.rag.ttft + r.retrieval_s for r in ok], .5):.2f} | "
              f"{pct([r.rag.decode_tps for r in ok if r.rag.decode_tps], .5):.1f} | "
              f"{pct([r.rag.answer_tokens for r in ok], .5):.0f} | "
              f"{pct([r.rag.total for r in ok], .5):.1f} / {pct([r.rag.total for r in ok], .95):.1f} | "
              f"{len(rs) - len(ok)} | {v.what} |")
    base = {r.question: r.rag for r in rows if r.variant == variants[0].name and r.rag.ttft is not None}
    print(f"\nPaired per question against {variants[0].name} (median of lever / baseline over the same questions)")
    print("| variant | first token ratio | decode tok/s ratio |")
    print("|---|---|---|")
    for v in variants[1:]:
        pairs = [(r.rag, base[r.question]) for r in rows
                 if r.variant == v.name and r.question in base and r.rag.ttft is not None]
        tt = [a.ttft / b.ttft for a, b in pairs]
        dd = [a.decode_tps / b.decode_tps for a, b in pairs if a.decode_tps and b.decode_tps]
        print(f"| {v.name} | {pct(tt, .5):.2f} | {pct(dd, .5):.2f} |")
    retrieval = sorted({(r.question, r.retrieval_s) for r in rows})
    print(f"\nretrieval (articles ready to show): p50 {pct([s for _, s in retrieval], .5):.2f} s, "
          f"max {max(s for _, s in retrieval):.2f} s over {len(retrieval)} questions")
    if not pair_variants:
        return
    print("\nRAG + raw together (comparison mode), per question")
    print("| variant | question | RAG first token s | RAG done s | raw first token s | raw done s | both done s | "
          "RAG / raw answer tok |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.raw is None:
            continue
        print(f"| {r.variant} | {r.question} | {r.rag.ttft or float('nan'):.2f} | {r.rag.total:.1f} | "
              f"{r.raw.ttft or float('nan'):.2f} | {r.raw.total:.1f} | {r.pair_s:.1f} | "
              f"{r.rag.answer_tokens} / {r.raw.answer_tokens} |")


if __name__ == "__main__":
    main()
