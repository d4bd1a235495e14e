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
stream is put against the HBM bound: weights bytes / --hbm-tbps (3.35 TB/s: H100 SXM).

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

WORDS = (
    "labor contract employer employee wage termination notice compensation article law court "
    "dispute arbitration overtime holiday leave social insurance probation severance month year "
    "written agreement party breach liability damages rights duties safety working hours rest"
).split()
SHORT_PROMPT_WORDS = 48
HBM_TBPS = 3.35  # H100 SXM (HBM3); H200: 4.8
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
        rows.append(("HBM bound (weights / bandwidth)", f"{bound:,.1f} tok/s", f"{args.hbm_tbps} TB/s"))
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
    ap.add_argument("--hbm-tbps", type=float, default=HBM_TBPS)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if not args.base_url and not args.hf_baseline:
        ap.error("give --base-url, --hf-baseline or both")

    server = asyncio.run(bench_server(args)) if args.base_url else {}
    hf = {}
    if args.hf_baseline:
        hf = hf_baseline(args.hf_baseline, args.hf_output_len, [int(b) for b in args.hf_batches.split(",")])
    ckpt = args.model_dir or args.hf_baseline
    bound = args.hbm_tbps * 1e12 / weights_bytes(ckpt) if ckpt and weights_bytes(ckpt) else None
    print(table(server, hf, bound, args))
    if args.json:
        result = {"base_url": args.base_url, "model": args.model, "output_len": args.output_len,
                  **server, "hf_tok_s": hf, "hbm_bound_tok_s": bound,
                  "single_stream_vs_bound": server["single_stream_tok_s"] / bound if server and bound else None}  # fmt: skip
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
