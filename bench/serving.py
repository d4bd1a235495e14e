"""Serving speed of any OpenAI-compatible endpoint, with an optional transformers baseline.

Measures, against --base-url/--model:
  * single-stream decode tok/s: two non-streamed requests that differ only in output
    length, (tokens2 - tokens1) / (time2 - time1), so prefill and HTTP cost cancel and the
    token counts are the server's own (usage), not SSE chunks;
  * TTFT at a ~1k-token prompt: latency of max_tokens=1 requests, each prompt unique so a
    prefix cache cannot answer it;
  * aggregate output tok/s at 1/8/32/128 concurrent requests of a fixed output length.
Fixed lengths use ignore_eos (LightLLM, vLLM, SGLang) and min_tokens (vLLM); a server that
knows neither still runs to max_tokens with a random-weight model, which never stops.
--hf-baseline MODEL_DIR runs transformers `generate` on the same checkpoint (batch 1 and 32)
in the same run. With the checkpoint's size known (--model-dir or --hf-baseline), single
stream is put against the HBM bound: weights bytes / the GPU's peak bandwidth (the name
nvidia-smi reports, looked up in bench/gpu_info.py's table; --hbm-tbps overrides; an unknown
GPU gets no bound). With --tp N the weights are split over N GPUs, so the bound is N times.

--rag FILE (bench/rag_prompts.jsonl, written by bench/rag_prompts.py from the project's own
retriever and prompt builder) adds the RAG-shaped load: U users at once (--rag-users), each
sending --rag-rounds streamed requests one after another (starts spread over --rag-stagger s),
prompts drawn from the file, output lengths uniform in [--rag-min-out, --rag-max-out] (fixed
by ignore_eos). Per level: TTFT p50/p95 (first streamed token), per-user decode tok/s (after
the first token), aggregate output tok/s. Two prompt-cache cases (--rag-cache): "system" keeps
the shared system prompt and instruction header in front and makes the rest unique per request
(a request id after the header), so the radix cache can reuse only the shared prefix; "none"
puts the request id first, so nothing is reused.

Does not start servers and asserts nothing: it prints a table (and --json) to compare.

    python bench/serving.py --base-url http://127.0.0.1:8123/v1 --model legal \\
        --model-dir /models/qwen3-8b --hf-baseline /models/qwen3-8b
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

from gpu_info import gpu_name, peak_tbps

WORDS = (
    "labor contract employer employee wage termination notice compensation article law court "
    "dispute arbitration overtime holiday leave social insurance probation severance month year "
    "written agreement party breach liability damages rights duties safety working hours rest"
).split()
SHORT_PROMPT_WORDS = 48
DEFAULT_CONCURRENCY = "1,8,32,128"
REQUEST_TIMEOUT_S = 600.0


def prompt(n_words: int, seed: int) -> str:
    """Unique text of n_words words (the seed leads, so no two prompts share a prefix)."""
    rng = random.Random(seed)
    return f"[{seed}] " + " ".join(rng.choice(WORDS) for _ in range(n_words))


class Endpoint:
    def __init__(self, base_url: str, model: str, ignore_eos: bool, api_key: str | None = None):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.ignore_eos = model, ignore_eos
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=1024, max_keepalive_connections=1024)
        self.http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits, headers=headers)

    async def complete(self, text: str, max_tokens: int) -> tuple[float, int, int]:
        """(seconds, prompt tokens, completion tokens) of one non-streamed chat completion."""
        body = {"model": self.model, "messages": [{"role": "user", "content": text}],
                "max_tokens": max_tokens, "temperature": 0.0, "stream": False}  # fmt: skip
        if self.ignore_eos:
            body.update(ignore_eos=True, min_tokens=max_tokens)
        t0 = time.perf_counter()
        r = await self.http.post(self.url, json=body)
        elapsed = time.perf_counter() - t0
        if r.status_code != 200:
            sys.exit(f"{self.url} answered HTTP {r.status_code}: {r.text[:300]}")
        usage = r.json().get("usage") or {}
        return elapsed, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or max_tokens)

    async def close(self) -> None:
        await self.http.aclose()


async def words_for_tokens(ep: Endpoint, tokens: int) -> int:
    """How many prompt words make about `tokens` prompt tokens (asks the server's usage)."""
    _, got, _ = await ep.complete(prompt(200, seed=-1), 1)
    return max(1, round(200 * tokens / got)) if got else round(tokens / 1.3)


async def single_stream(ep: Endpoint, output_len: int, repeats: int) -> float:
    short, long = 16, 16 + output_len
    rates = []
    for k in range(repeats):
        t1, _, n1 = await ep.complete(prompt(SHORT_PROMPT_WORDS, 1000 + k), short)
        t2, _, n2 = await ep.complete(prompt(SHORT_PROMPT_WORDS, 2000 + k), long)
        # a server that ignored ignore_eos may stop early: then fall back to the plain rate
        rates.append((n2 - n1) / (t2 - t1) if n2 > n1 + 8 and t2 > t1 else n2 / t2)
    return statistics.median(rates)


async def ttft(ep: Endpoint, n_words: int, repeats: int) -> tuple[float, int]:
    """(median seconds to the first token, prompt tokens) at the long prompt."""
    times, tokens = [], 0
    for k in range(repeats):
        t, tokens, _ = await ep.complete(prompt(n_words, 3000 + k), 1)
        times.append(t)
    return statistics.median(times), tokens


async def concurrent(ep: Endpoint, n: int, output_len: int, seed: int) -> float:
    """Aggregate output tok/s of n simultaneous requests of output_len tokens."""
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(ep.complete(prompt(SHORT_PROMPT_WORDS, seed + i), output_len) for i in range(n)))
    wall = time.perf_counter() - t0
    return sum(r[2] for r in results) / wall


async def bench_server(args: argparse.Namespace) -> dict:
    ep = Endpoint(args.base_url, args.model, not args.no_ignore_eos, args.api_key)
    try:
        await ep.complete(prompt(SHORT_PROMPT_WORDS, 0), 8)  # warm-up
        n_words = await words_for_tokens(ep, args.prompt_tokens)
        out = {"single_stream_tok_s": await single_stream(ep, args.output_len, args.repeats)}
        out["ttft_s"], out["ttft_prompt_tokens"] = await ttft(ep, n_words, args.repeats)
        out["concurrent_tok_s"] = {}
        for n in [int(c) for c in args.concurrency.split(",") if c]:
            out["concurrent_tok_s"][n] = await concurrent(ep, n, args.output_len, seed=10_000 * n)
            print(f"  {n:>4} concurrent: {out['concurrent_tok_s'][n]:,.1f} tok/s", file=sys.stderr)
    finally:
        await ep.close()
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    v = sorted(values)
    return v[max(0, min(len(v) - 1, int(round(q / 100 * len(v) + 0.5)) - 1))]


def load_rag_prompts(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if not r.get("abstain")] or rows


def unique_messages(messages: list[dict], request_id: str, cache: str) -> list[dict]:
    """The builder's messages with a request id: after the shared system prompt and the
    instruction header ("system": only that prefix can come from the prompt cache), or in
    front of everything ("none": nothing can)."""
    out = [dict(m) for m in messages]
    if cache == "none":
        out[0]["content"] = f"[{request_id}] " + out[0]["content"]
        return out
    user = out[-1]["content"]
    cut = user.find("<法条>")
    cut = cut if cut >= 0 else 0
    out[-1]["content"] = user[:cut] + f"（请求 {request_id}）\n" + user[cut:]
    return out


async def stream_one(ep: Endpoint, messages: list[dict], max_tokens: int) -> tuple[float, float]:
    """(seconds to the first streamed token, seconds to the end) of one streamed chat."""
    body = {"model": ep.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0, "stream": True}
    if ep.ignore_eos:
        body.update(ignore_eos=True, min_tokens=max_tokens)
    t0 = time.perf_counter()
    first = None
    async with ep.http.stream("POST", ep.url, json=body) as r:
        if r.status_code != 200:
            sys.exit(f"{ep.url} answered HTTP {r.status_code}: {(await r.aread())[:300]!r}")
        async for line in r.aiter_lines():
            if first is None and line.startswith("data:") and '"content"' in line:
                first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return (first if first is not None else total), total


async def rag_level(ep: Endpoint, prompts: list[dict], users: int, rounds: int, cache: str,
                    args: argparse.Namespace) -> dict:
    rng = random.Random(users * 1000 + len(cache))
    ttfts, rates, out_tokens = [], [], 0
    prompt_tokens = []

    async def user(u: int) -> None:
        nonlocal out_tokens
        await asyncio.sleep(args.rag_stagger * u / max(1, users))
        for k in range(rounds):
            row = prompts[rng.randrange(len(prompts))]
            n = rng.randint(args.rag_min_out, args.rag_max_out)
            first, total = await stream_one(ep, unique_messages(row["messages"], f"{cache}-{users}-{u}-{k}", cache), n)
            ttfts.append(first)
            rates.append((n - 1) / (total - first) if total > first else 0.0)
            out_tokens += n
            prompt_tokens.append(row.get("prompt_tokens", 0))

    t0 = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(users)))
    wall = time.perf_counter() - t0
    return {"users": users, "requests": len(ttfts), "ttft_p50_s": percentile(ttfts, 50),
            "ttft_p95_s": percentile(ttfts, 95), "per_user_tok_s": statistics.median(rates),
            "aggregate_tok_s": out_tokens / wall, "wall_s": wall,
            "prompt_tokens_median": statistics.median(prompt_tokens)}  # fmt: skip


async def bench_rag(args: argparse.Namespace) -> dict:
    prompts = load_rag_prompts(args.rag)
    ep = Endpoint(args.base_url, args.model, not args.no_ignore_eos, args.api_key)
    levels = [int(u) for u in args.rag_users.split(",") if u]
    rounds = [int(r) for r in args.rag_rounds.split(",") if r]
    rounds += [rounds[-1]] * (len(levels) - len(rounds))
    out: dict = {"prompts": len(prompts), "prompt_tokens": sorted(r.get("prompt_tokens", 0) for r in prompts)}
    try:  # the server's own count of one RAG prompt, beside the file's
        _, out["server_prompt_tokens_first"], _ = await ep_complete_messages(ep, prompts[0]["messages"], 1)
        for cache in [c for c in args.rag_cache.split(",") if c]:
            out[cache] = []
            for users, n in zip(levels, rounds):
                r = await rag_level(ep, prompts, users, n, cache, args)
                out[cache].append(r)
                print(f"  RAG cache={cache} {users:>4} users: TTFT p50 {r['ttft_p50_s'] * 1000:,.0f} ms, "
                      f"p95 {r['ttft_p95_s'] * 1000:,.0f} ms, {r['per_user_tok_s']:.1f} tok/s per user, "
                      f"{r['aggregate_tok_s']:,.1f} tok/s aggregate ({r['requests']} requests)", file=sys.stderr)
    finally:
        await ep.close()
    return out


async def ep_complete_messages(ep: Endpoint, messages: list[dict], max_tokens: int) -> tuple[float, int, int]:
    body = {"model": ep.model, "messages": messages, "max_tokens": max_tokens, "stream": False}
    t0 = time.perf_counter()
    r = await ep.http.post(ep.url, json=body)
    usage = r.json().get("usage") or {}
    return time.perf_counter() - t0, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def rag_table(rag: dict) -> str:
    toks = [t for t in rag["prompt_tokens"] if t]
    lines = [f"RAG load: {rag['prompts']} prompts from the project's builder"
             + (f", {min(toks):,}-{max(toks):,} tokens (median {statistics.median(toks):,.0f})" if toks else "")
             + f"; server counted {rag.get('server_prompt_tokens_first')} for the first",
             f"{'cache':<7} {'users':>5} {'req':>4} {'TTFT p50':>9} {'TTFT p95':>9} {'per user':>10} {'aggregate':>11}"]  # fmt: skip
    for cache in ("system", "none"):
        for r in rag.get(cache, []):
            lines.append(f"{cache:<7} {r['users']:>5} {r['requests']:>4} {r['ttft_p50_s'] * 1000:>6,.0f} ms"
                         f" {r['ttft_p95_s'] * 1000:>6,.0f} ms {r['per_user_tok_s']:>6.1f} t/s {r['aggregate_tok_s']:>7,.0f} t/s")  # fmt: skip
    return "\n".join(lines)


def hf_baseline(model_dir: Path, output_len: int, batches: list[int]) -> dict[int, float]:
    """transformers generate (bf16, greedy, fixed length) output tok/s per batch size."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16).to(device).eval()
    results = {}
    for b in batches:
        texts = [tok.apply_chat_template([{"role": "user", "content": prompt(SHORT_PROMPT_WORDS, 5000 + i)}],
                                         tokenize=False, add_generation_prompt=True) for i in range(b)]  # fmt: skip
        tok.padding_side = "left"
        enc = tok(texts, return_tensors="pt", padding=True, return_token_type_ids=False).to(device)
        kw = dict(do_sample=False, pad_token_id=tok.pad_token_id or 0)
        with torch.inference_mode():
            model.generate(**enc, max_new_tokens=4, min_new_tokens=4, **kw)  # warm-up
            _sync(torch)
            t0 = time.perf_counter()
            model.generate(**enc, max_new_tokens=output_len, min_new_tokens=output_len, **kw)
            _sync(torch)
        results[b] = b * output_len / (time.perf_counter() - t0)
        print(f"  HF batch {b}: {results[b]:,.1f} tok/s", file=sys.stderr)
    del model
    return results


def _sync(torch) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def weights_bytes(model_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(model_dir).glob("*.safetensors"))


def table(server: dict, hf: dict[int, float], bound: float | None, args: argparse.Namespace) -> str:
    ratio = lambda v: f"{v / bound:.0%} of HBM bound" if bound else ""  # noqa: E731
    rows = []
    if server:
        rows += [("single stream decode", f"{server['single_stream_tok_s']:,.1f} tok/s", ratio(server["single_stream_tok_s"])),
                 (f"TTFT, {server['ttft_prompt_tokens']}-token prompt", f"{server['ttft_s'] * 1000:,.0f} ms", "")]  # fmt: skip
    for n, v in server.get("concurrent_tok_s", {}).items():
        rows.append((f"{n} concurrent x {args.output_len} tokens", f"{v:,.1f} tok/s", ""))
    for b, v in hf.items():
        rows.append((f"HF transformers generate, batch {b}", f"{v:,.1f} tok/s", ratio(v) if b == 1 else ""))
    if bound:
        rows.append(("HBM bound (weights / bandwidth)", f"{bound:,.1f} tok/s",
                     f"{args.hbm_tbps} TB/s x {args.tp} GPU ({args.gpu})"))
    w = max(len(r[0]) for r in rows)
    lines = [f"{args.model} @ {args.base_url or 'no server'}"] + [f"{a:<{w}}  {b:>14}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", help="OpenAI-compatible /v1 URL (leave out to run only --hf-baseline)")
    ap.add_argument("--model", default="default", help="model id sent in requests")
    ap.add_argument("--api-key")
    ap.add_argument("--output-len", type=int, default=256, help="fixed output tokens per request")
    ap.add_argument("--prompt-tokens", type=int, default=1000, help="prompt length for TTFT")
    ap.add_argument("--concurrency", default=DEFAULT_CONCURRENCY, help="comma-separated levels")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-ignore-eos", action="store_true", help="do not send ignore_eos/min_tokens")
    ap.add_argument("--model-dir", type=Path, help="the served checkpoint (for the HBM bound)")
    ap.add_argument("--hf-baseline", type=Path, help="run transformers generate on this checkpoint")
    ap.add_argument("--hf-output-len", type=int, default=128)
    ap.add_argument("--hf-batches", default="1,32")
    ap.add_argument("--hbm-tbps", type=float, help="peak bandwidth per GPU, TB/s (default: this GPU's, bench/gpu_info.py)")
    ap.add_argument("--tp", type=int, default=1, help="GPUs the served weights are split over (bound x tp)")
    ap.add_argument("--skip-basic", action="store_true", help="skip single stream, TTFT and the short concurrent load")
    ap.add_argument("--rag", type=Path, help="RAG prompts JSONL (bench/rag_prompts.py) for the RAG load")
    ap.add_argument("--rag-users", default=DEFAULT_CONCURRENCY, help="comma-separated concurrent users")
    ap.add_argument("--rag-rounds", default="4,2,2,1", help="requests per user, one per --rag-users level")
    ap.add_argument("--rag-min-out", type=int, default=256)
    ap.add_argument("--rag-max-out", type=int, default=768)
    ap.add_argument("--rag-stagger", type=float, default=2.0, help="user starts spread over this many seconds")
    ap.add_argument("--rag-cache", default="system,none", help="prompt-cache cases: system (shared prefix reused), none")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if not args.base_url and not args.hf_baseline:
        ap.error("give --base-url, --hf-baseline or both")
    args.gpu = gpu_name()
    args.hbm_tbps = args.hbm_tbps or peak_tbps(args.gpu)
    print(f"GPU: {args.gpu}; peak bandwidth {args.hbm_tbps} TB/s"
          f"{' (datasheet table)' if args.hbm_tbps else ' unknown: no HBM bound'}", file=sys.stderr)

    server = asyncio.run(bench_server(args)) if args.base_url and not args.skip_basic else {}
    rag = asyncio.run(bench_rag(args)) if args.base_url and args.rag else {}
    hf = {}
    if args.hf_baseline:
        hf = hf_baseline(args.hf_baseline, args.hf_output_len, [int(b) for b in args.hf_batches.split(",")])
    ckpt = args.model_dir or args.hf_baseline
    bound = args.tp * args.hbm_tbps * 1e12 / weights_bytes(ckpt) if args.hbm_tbps and ckpt and weights_bytes(ckpt) else None
    if server or hf:
        print(table(server, hf, bound, args))
    if rag:
        print(rag_table(rag))
    if args.json:
        result = {"base_url": args.base_url, "model": args.model, "output_len": args.output_len, "gpu": args.gpu,
                  "peak_tbps": args.hbm_tbps, "tp": args.tp, "rag": rag,
                  **server, "hf_tok_s": hf, "hbm_bound_tok_s": bound,
                  "single_stream_vs_bound": server["single_stream_tok_s"] / bound if server and bound else None}  # fmt: skip
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
