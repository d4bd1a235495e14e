"""The fastest a batch-1 decode step of a Qwen3-8B-shaped model can be on this GPU.

Runs only the weight-streaming part of one decode step (per layer: RMSNorm, fused QKV,
O, fused gate/up, SiLU*mul, down; then the LM head) for one token, captured in a CUDA
graph, timed with CUDA events. Attention over a short context moves ~1% of the bytes and
is left out. This is the floor a server's single stream is compared with: what remains
between it and the server is the server's per-step overhead (scheduling, sampling, IPC).

Does not check numerics (weights are random) and does not model long contexts.

The bound uses this GPU's datasheet peak (bench/gpu_info.py: the name torch reports, looked
up in a table; --hbm-tbps overrides) and prints a measured device-to-device copy beside it.

    python bench/gpu_floor.py [--hbm-tbps 4.8] [--json floor.json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gpu_info import gpu_name, measured_copy_tbps, peak_tbps

SHAPE = dict(hidden=4096, inter=12288, layers=36, q_heads=32, kv_heads=8, head_dim=128, vocab=151936)
STEPS = 50


def decode_floor(hbm_tbps: float) -> dict:
    s, dev, dt = SHAPE, "cuda", torch.bfloat16
    h, qkv = s["hidden"], (s["q_heads"] + 2 * s["kv_heads"]) * s["head_dim"]
    mk = lambda *shape: torch.randn(*shape, device=dev, dtype=dt) * 0.02  # noqa: E731
    layers = [(mk(qkv, h), mk(h, s["q_heads"] * s["head_dim"]), mk(2 * s["inter"], h), mk(h, s["inter"]))
              for _ in range(s["layers"])]  # fmt: skip
    lm_head, norm = mk(s["vocab"], h), torch.ones(h, device=dev, dtype=dt)
    weight_bytes = sum(w.numel() * 2 for layer in layers for w in layer) + lm_head.numel() * 2 * 2  # + embedding
    x = mk(1, h)

    def step() -> torch.Tensor:
        y = x
        for w_qkv, w_o, w_gu, w_d in layers:
            a = torch.nn.functional.rms_norm(y, (h,), norm)
            q = (a @ w_qkv.T)[:, : s["q_heads"] * s["head_dim"]]  # attention output ~ q for 1 token
            y = y + q @ w_o.T
            a = torch.nn.functional.rms_norm(y, (h,), norm)
            g, u = (a @ w_gu.T).chunk(2, dim=-1)
            y = y + (torch.nn.functional.silu(g) * u) @ w_d.T
        return torch.nn.functional.rms_norm(y, (h,), norm) @ lm_head.T

    for _ in range(3):
        step()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    graph.replay()
    start.record()
    for _ in range(STEPS):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / STEPS
    streamed = weight_bytes - lm_head.numel() * 2  # the embedding row read is negligible
    bound = hbm_tbps * 1e12 / weight_bytes
    return {"step_ms": ms, "tok_s": 1000 / ms, "hbm_bound_tok_s": bound, "vs_bound": 1000 / ms / bound,
            "achieved_tbps": streamed / (ms / 1000) / 1e12, "weights_gb": weight_bytes / 1e9}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hbm-tbps", type=float, help="peak bandwidth, TB/s (default: this GPU's from the table)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    name = gpu_name()
    tbps = args.hbm_tbps or peak_tbps(name)
    if tbps is None:
        ap.error(f"no peak bandwidth known for {name!r}: pass --hbm-tbps")
    copy = measured_copy_tbps()
    print(f"GPU {name}: peak {tbps} TB/s ({'given' if args.hbm_tbps else 'datasheet table'}), "
          f"device-to-device copy measured {copy:.2f} TB/s ({copy / tbps:.0%} of peak)")
    r = {"gpu": name, "peak_tbps": tbps, "copy_tbps": copy, **decode_floor(tbps)}
    print(f"batch-1 decode floor (weights only, CUDA graph): {r['step_ms']:.2f} ms/token = {r['tok_s']:.1f} tok/s"
          f" = {r['vs_bound']:.0%} of the {r['hbm_bound_tok_s']:.1f} tok/s HBM bound"
          f" ({r['achieved_tbps']:.2f} TB/s streamed, {r['weights_gb']:.2f} GB)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
