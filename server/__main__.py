"""CLI: python -m server embedded|health|chat|launch|merge|build ...

The one server CLI, and the only file of server/ that reads settings: each subcommand turns its
arguments and the settings into values for the module that owns the job (embedded.py,
endpoints.py and client.py, lightllm.py, merge.py, llama_build.py). Library errors become a
one-line message and a non-zero exit.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from server import crashes, embedded, lightllm, llama_build
from server.embedded import EmbeddedStarter
from server.endpoints import client_for
from server.errors import ServerError
from server.merge import DTYPE_NAMES, merge_adapter
from server.weights.gguf import MODELS
from settings import Endpoint, Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("embedded", help="start (or find) the embedded CPU llama.cpp server")
    p.add_argument("--model", help=f"one of {', '.join(MODELS)}, a .gguf path or 'hf/repo:file.gguf'")
    p.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops it")
    p.add_argument("--stop", action="store_true", help="stop the embedded servers instead")
    p.set_defaults(run=run_embedded)

    p = sub.add_parser("health", help="check that an LLM endpoint answers")
    p.add_argument("--endpoint", help="endpoint name in settings (default: default_endpoint)")
    p.set_defaults(run=run_health)
    p = sub.add_parser("chat", help="stream one answer from an LLM endpoint")
    p.add_argument("question")
    p.add_argument("--endpoint", help="endpoint name in settings (default: default_endpoint)")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--show-reasoning", action="store_true")
    p.set_defaults(run=run_chat)

    p = sub.add_parser("launch", help="start LightLLM (GPU) for one model and keep it running")
    p.add_argument("--model-dir", type=Path, required=True, help="Hugging Face style model folder")
    p.add_argument("--name", default="legal", help="model name (served id; also picks default ports)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel GPUs")
    p.add_argument("--port", type=int, help="HTTP port (default: derived from --name)")
    p.add_argument("--nccl-port", type=int, help="NCCL port (default: derived from --name)")
    p.add_argument("--log", type=Path, help="log file (default: DATA_DIR/logs/lightllm-NAME.log)")
    p.add_argument("--timeout", type=float, default=lightllm.START_TIMEOUT_S, help="seconds to wait for health")
    p.add_argument("--mode", default=" ".join(lightllm.DECODE_MODE),
                   help="LightLLM --mode kernels, space-separated ('' for LightLLM's defaults)")
    p.add_argument("--extra-args", default="", help='more LightLLM flags; write --extra-args="--disable_log_stats" (with =)')
    p.set_defaults(run=run_launch)

    p = sub.add_parser("merge", help="merge a LoRA adapter into its base (a folder LightLLM can serve)")
    p.add_argument("--base", type=Path, required=True, help="base model folder (Hugging Face format)")
    p.add_argument("--adapter", type=Path, required=True, help="LoRA adapter folder (peft / LLaMA-Factory)")
    p.add_argument("--out", type=Path, required=True, help="new, empty output folder")
    p.add_argument("--dtype", choices=sorted(DTYPE_NAMES), help="weights dtype (default: the base's)")
    p.set_defaults(run=run_merge)

    p = sub.add_parser("build", help="show what the installed llama.cpp was compiled for, "
                                     "and whether it runs on any x86-64 with AVX2")
    p.set_defaults(run=run_build)
    return parser


def embedded_starter(s: Settings) -> EmbeddedStarter:
    return embedded.starter(s.embedded_model, s.models_dir, embedded.state_dir(s.data_dir),
                            s.embedded_threads, s.embedded_ctx)


# -- embedded [--model M] [--foreground] [--stop] ---------------------------------------------
def run_embedded(args: argparse.Namespace) -> int:
    s = get_settings()
    state_dir = embedded.state_dir(s.data_dir)
    if args.stop:
        pids = embedded.stop(state_dir)
        print(f"stopped {', '.join(map(str, pids))}" if pids else "no embedded server was running")
        return 0
    model = args.model or s.embedded_model
    endpoint = embedded.ensure_running(model, s.models_dir, state_dir, s.embedded_threads, s.embedded_ctx,
                                       stop_at_exit=args.foreground)
    print(f"embedded server for {model}: {endpoint.base_url}\ntry:\n  curl {endpoint.base_url}"
          "/chat/completions -H 'Content-Type: application/json' -d '{\"model\": "
          f"\"{endpoint.model}\", \"messages\": [{{\"role\": \"user\", \"content\": \"你好\"}}]}}'")
    server = embedded.started_here(model, state_dir)
    if args.foreground and server is not None:
        print("Ctrl-C stops it.")
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass  # atexit stops it
    return 0


# -- health|chat [--endpoint NAME] --------------------------------------------------------------
def run_health(args: argparse.Namespace) -> int:
    s = get_settings()
    state_dir = embedded.state_dir(s.data_dir)

    def embedded_if_running() -> Endpoint:  # health reports; it does not start servers
        found = embedded.running(s.embedded_model, state_dir)
        if found is None:  # never started, or died: then say how (server/crashes.py)
            raise ServerError(crashes.not_running_text(s.embedded_model, crashes.latest(state_dir)))
        return found

    name = args.endpoint or s.default_endpoint
    client = client_for(name, s.endpoints, embedded_if_running, s.request_timeout_s, watch=False)
    print(f"{name} ({client.endpoint.base_url}, model {client.endpoint.model}): {client.health()}")
    return 0


def run_chat(args: argparse.Namespace) -> int:
    s = get_settings()
    client = client_for(args.endpoint or s.default_endpoint, s.endpoints, embedded_starter(s), s.request_timeout_s)
    kind = None
    for d in client.stream([{"role": "user", "content": args.question}],
                           max_tokens=args.max_tokens, temperature=args.temperature):
        if d.kind == "reasoning" and not args.show_reasoning:
            continue
        if d.kind != kind and args.show_reasoning:
            print(f"\n[{d.kind}]", flush=True)
        kind = d.kind
        print(d.text, end="", flush=True)
    print()
    return 0


# -- launch --model-dir DIR [--name N] ... (LightLLM, GPU) -------------------------------------
def run_launch(args: argparse.Namespace) -> int:
    s = get_settings()
    config = lightllm.LaunchConfig(
        model_dir=args.model_dir, name=args.name, host=args.host, port=args.port,
        nccl_port=args.nccl_port, tp=args.tp, max_total_token_num=s.max_total_token_num,
        max_req_total_len=s.max_req_total_len, mode=tuple(args.mode.split()),
        extra_args=lightllm.model_flags(args.model_dir, tuple(shlex.split(args.extra_args))),
    )  # fmt: skip
    log_path = args.log or s.data_dir / "logs" / f"lightllm-{args.name}.log"
    return lightllm.serve(config, python=s.lightllm_python, lightllm_dir=s.lightllm_dir, log_path=log_path,
                          timeout=args.timeout)


# -- merge --base B --adapter A --out O ---------------------------------------------------------
def run_merge(args: argparse.Namespace) -> int:
    result = merge_adapter(args.base, args.adapter, args.out, args.dtype)
    print(f"merged model written to {result.out_dir} (tokenizer from {result.tokenizer_from})")
    if not result.has_chat_template:
        print("warning: no chat template found in the tokenizer files; LightLLM's "
              "/v1/chat/completions needs one (add chat_template.jinja to the folder)")  # fmt: skip
    print(f"serve it: python -m server launch --model-dir {result.out_dir}")
    return 0


# -- build ------------------------------------------------------------------------------------
def run_build(args: argparse.Namespace) -> int:
    build = llama_build.inspect()
    if build.failure:
        print(f"llama.cpp build: {build.failure}\nReinstall it with: {llama_build.REINSTALL_HINT}")
        return 1
    on = [name for name, v in build.features.items() if v]
    print(f"llama.cpp build in {build.lib_dir}")
    print(f"  instruction sets: {' '.join(n for n in on if n not in llama_build.NOT_ISA)}")
    print(f"  other features:   {' '.join(n for n in on if n in llama_build.NOT_ISA) or '-'}")
    if build.cpu_variants:
        print(f"  CPU variants picked at run time: {' '.join(build.cpu_variants)}")
    message = llama_build.warning()
    if message:
        print(f"NOT portable: {message}")
        return 1
    print("portable: runs on any x86-64 machine with AVX2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
