"""What portability costs: prefill and decode tok/s of two llama-cpp-python builds, one run.

Each build is a folder put first on PYTHONPATH of a child process (`name=DIR`; `name=` is
the globally installed one). Every repetition runs each build once, the order reversed every
other repetition (A B, B A, ...), so both see the same load and drift from whatever else
shares the machine; medians are reported. A child loads
the app's chat model (settings.embedded_model, Qwen2.5-Coder-1.5B Q4_K_M by default, assembled by
server/embedded.py), warms
up on 8 tokens, then evaluates a real RAG prompt (bench/rag_prompts.jsonl, first question,
cut to --prompt-tokens) and --decode greedy tokens, and reports llama.cpp's own timings
(llama_perf_context: prompt eval and eval). Does not start the server.

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/lcp
    CMAKE_ARGS=-DGGML_NATIVE=ON pip install --no-cache-dir --no-deps --no-build-isolation \
        --target /tmp/native-llama /tmp/lcp/llama_cpp_python-0.3.36.tar.gz
    python bench/llama_build.py --build portable= --build native=/tmp/native-llama
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = ROOT / "bench" / "rag_prompts.jsonl"

CHILD = r"""
import json, sys, ctypes
import numpy as np
import llama_cpp
from llama_cpp import Llama

model, prompt_file, n_prompt, n_decode, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
messages = json.loads(open(prompt_file, encoding="utf-8").readline())["messages"]
text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
llm = Llama(model_path=model, n_ctx=2048, n_batch=512, n_threads=threads,
            n_threads_batch=threads, verbose=False, no_perf=False)
tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
while len(tokens) < n_prompt:
    tokens = tokens + tokens
tokens = tokens[:n_prompt]
ctx, n_vocab = llm._ctx.ctx, llm.n_vocab()

def greedy():
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
    return int(logits.argmax())

llm.eval(tokens[:8]); llm.eval([greedy()])  # warm-up: page in the weights, first graphs
llm.reset()
llama_cpp.llama_perf_context_reset(ctx)
llm.eval(tokens)
for _ in range(n_decode):
    llm.eval([greedy()])
p = llama_cpp.llama_perf_context(ctx)
print(json.dumps({"system_info": llama_cpp.llama_print_system_info().decode().strip(),
                  "n_prompt": p.n_p_eval, "prompt_ms": p.t_p_eval_ms,
                  "n_decode": p.n_eval, "decode_ms": p.t_eval_ms}))
"""


def run_child(site: str, model: Path, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if site:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(PROMPTS), str(args.prompt_tokens),
         str(args.decode), str(args.threads)],
        env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"build {site or '(global)'} failed ({done.returncode}): {done.stderr[-2000:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    r["prefill_tps"] = 1e3 * r["n_prompt"] / r["prompt_ms"]
    r["decode_tps"] = 1e3 * r["n_decode"] / r["decode_ms"]
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", action="append", required=True,
                        help="NAME=DIR (DIR first on PYTHONPATH; empty: the global install)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--prompt-tokens", type=int, default=800)
    parser.add_argument("--decode", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", help="a name of server/embedded.py's MODELS or a GGUF path "
                                            "(default: the app's, settings.embedded_model)")
    parser.add_argument("--json", type=Path, help="write every repetition here")
    args = parser.parse_args()

    from server.weights.gguf import model_file
    from settings import get_settings

    settings = get_settings()
    name = args.model or settings.embedded_model
    model = model_file(name, settings.models_dir)
    builds = dict(b.split("=", 1) for b in args.build)
    runs: dict[str, list[dict]] = {name: [] for name in builds}
    print(f"{name} ({model}), {args.prompt_tokens}-token prompt, {args.decode} decode tokens, "
          f"{args.threads} threads, {args.reps} interleaved repetitions", flush=True)
    for rep in range(args.reps):
        order = list(builds.items())
        for name, site in (order if rep % 2 == 0 else order[::-1]):
            r = run_child(site, model, args)
            runs[name].append(r)
            print(f"  rep {rep + 1} {name:>9}: prefill {r['prefill_tps']:6.1f} tok/s, "
                  f"decode {r['decode_tps']:5.2f} tok/s", flush=True)
    print()
    for name, rs in runs.items():
        print(f"{name}: {rs[0]['system_info']}")
    base = next(iter(runs))
    print(f"\n| build | prefill tok/s (median) | decode tok/s (median) | vs {base} |")
    print("|---|---|---|---|")
    med = {n: (statistics.median(r["prefill_tps"] for r in rs),
               statistics.median(r["decode_tps"] for r in rs)) for n, rs in runs.items()}
    for name, (pre, dec) in med.items():
        print(f"| {name} | {pre:.1f} | {dec:.2f} | prefill ×{pre / med[base][0]:.2f}, "
              f"decode ×{dec / med[base][1]:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
