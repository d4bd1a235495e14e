"""Run one LightLLM server (GPU) per model: command line, start, health wait, stop.

`build_command` turns a LaunchConfig (values from settings and the CLI) into LightLLM's
command line (pure, unit-tested);
`launch` starts it in its own process group with its log in a file (server/supervisor.py,
shared with the embedded server), waits until
/health answers 200 (it answers 503 while loading, 75–90 s for an 8B model) and fails
fast: a failed LightLLM start does not exit, it logs a traceback and hangs, so a
"Traceback" in the log or an exited process stops the whole group and raises
`LightLLMStartFailed` with the traceback's tail. `LightLLMServer.stop` kills the group,
so no worker, detokenizer or gunicorn process outlives it. `serve` keeps one running in the
foreground (`python -m server launch`) until Ctrl-C or SIGTERM.

Does not install LightLLM: it runs in its own Python environment (`lightllm_python`,
source checkout on `lightllm_dir`), see docs/gpu.md. Does not talk to the model:
server.client does that, against the /v1 URL printed at start.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from server import supervisor
from server.errors import ServerError

API_MODULE = "lightllm.server.api_server"
HEALTH_PATH = "/health"
START_TIMEOUT_S = 600.0  # first start compiles Triton kernels and captures CUDA graphs
POLL_S = 0.5
STOP_GRACE_S = supervisor.STOP_GRACE_S
LOG_TAIL_CHARS = 4000
FAILURE_MARKER = "Traceback"

# Default ports are derived from the model name, so two models started side by side get
# distinct --port and --nccl_port without configuration; a busy one moves to the next free.
PORT_BASE, NCCL_PORT_BASE, PORT_SPAN = 8100, 28800, 500

# Flags measured best on an H100 for a Qwen3-8B-shaped model (docs/gpu.md has the numbers):
# LightLLM's GQA flash-decoding kernel gave 1.8x the output rate at 128 concurrent requests
# (5,102 vs 2,783 tok/s) and the same single stream; CUDA graphs cover decode up to
# GRAPH_MAX_BATCH_SIZE requests and the whole RAG budget (max_req_total_len).
DATA_TYPE = "bf16"
DECODE_MODE = ("triton_gqa_flashdecoding",)  # for GQA models (Qwen2.5/3, Llama 3); () for others
GRAPH_MAX_BATCH_SIZE = 256
# Vision models LightLLM serves only with its visual process on (--enable_multimodal). Its OpenAI
# handler drops image parts from the chat template; an image goes where the text holds this tag,
# so endpoints of these models need Endpoint.image_tag (docs/gpu.md §6.4, measured on an H200).
VISION_IMAGE_TAGS = {"qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>"}


# NVLink multicast (NVLS) stays off for --tp > 1: on shared multi-GPU hosts a program using it
# can take the host's GPUs out of service; NCCL's ring/tree all-reduce over NVLink is used.
NO_MULTICAST_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


class LightLLMStartFailed(ServerError):
    """LightLLM exited, logged a traceback, or did not become healthy; carries its log tail."""


@dataclass(frozen=True)
class LaunchConfig:
    """What one LightLLM server serves and where; values come from settings and the CLI."""

    model_dir: Path
    name: str = "legal"
    host: str = "127.0.0.1"
    port: int | None = None  # None: derived from name (see default_ports)
    nccl_port: int | None = None
    tp: int = 1
    max_total_token_num: int = 150000
    max_req_total_len: int = 8192
    data_type: str = DATA_TYPE
    mode: tuple[str, ...] = DECODE_MODE
    graph_max_batch_size: int = GRAPH_MAX_BATCH_SIZE
    extra_args: tuple[str, ...] = field(default_factory=tuple)


def default_ports(name: str) -> tuple[int, int]:
    """(http port, nccl port) for a model name: stable across runs, distinct per name."""
    offset = zlib.crc32(name.encode()) % PORT_SPAN
    return PORT_BASE + offset, NCCL_PORT_BASE + offset


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Can a server listen here? SO_REUSEADDR as servers set it: TIME_WAIT does not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _first_free(port: int, host: str, taken: set[int]) -> int:
    while port in taken or not port_is_free(port, host):
        port += 1
    return port


def resolve_ports(config: LaunchConfig) -> LaunchConfig:
    """Fill in ports left unset: the name's defaults, moved on past ports in use."""
    if config.port is not None and config.nccl_port is not None:
        return config
    port, nccl = default_ports(config.name)
    port = config.port if config.port is not None else _first_free(port, config.host, set())
    nccl = config.nccl_port if config.nccl_port is not None else _first_free(nccl, "127.0.0.1", {port})
    return replace(config, port=port, nccl_port=nccl)


def build_command(python: str, config: LaunchConfig) -> list[str]:
    """LightLLM's command line for `config` (ports must be resolved)."""
    if config.port is None or config.nccl_port is None:
        raise ValueError("resolve ports first (resolve_ports)")
    if config.port == config.nccl_port:
        raise ValueError(f"--port and --nccl_port must differ (both {config.port})")
    return [
        python, "-m", API_MODULE,
        "--model_dir", str(config.model_dir),
        "--model_name", config.name,
        "--host", config.host,
        "--port", str(config.port),
        "--nccl_port", str(config.nccl_port),
        "--tp", str(config.tp),
        "--max_total_token_num", str(config.max_total_token_num),
        "--max_req_total_len", str(config.max_req_total_len),
        "--data_type", config.data_type,
        "--graph_max_batch_size", str(config.graph_max_batch_size),
        "--graph_max_len_in_batch", str(config.max_req_total_len),
        *(["--mode", *config.mode] if config.mode else []),
        *config.extra_args,
    ]  # fmt: skip


# LightLLM prefixes every log line, e.g. "ERROR 11-22 10:39:20 [registry.py:76] "
LOG_PREFIX = re.compile(r"^(?:[A-Z]+ \d\d-\d\d \d\d:\d\d:\d\d \[[^\]]*\] ?)?")


def first_traceback(log: str, chars: int = LOG_TAIL_CHARS) -> str:
    """The log's first traceback up to its exception line, log prefixes removed.

    That line ("torch.OutOfMemoryError: CUDA out of memory ...") is what a person needs;
    the shutdown noise after it is not. Without a traceback: the log's last `chars`.
    """
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if FAILURE_MARKER in line]
    if not starts:
        return log[-chars:].strip()
    block = []
    for line in lines[starts[0]:]:
        text = LOG_PREFIX.sub("", line, count=1)
        block.append(text)
        if block[1:] and text.strip() and not text[:1].isspace() and not text.startswith("During handling"):
            break  # first unindented line after the frames: the exception itself
    return "\n".join(block)[-chars:].strip()


class LightLLMServer:
    """A started LightLLM process group. Use `launch()` to get a ready one."""

    def __init__(self, process: subprocess.Popen, config: LaunchConfig, log_path: Path):
        self.process = process
        self.config = config
        self.log_path = log_path
        self._group = supervisor.ProcessGroup(process, log_path)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        return f"http://{host}:{self.config.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint for server.client / LEGAL_RAG_ENDPOINTS."""
        return self.url + "/v1"

    def health(self, timeout: float = 5.0) -> int | None:
        """HTTP status of /health, or None when nothing answers yet."""
        try:
            with urlopen(self.url + HEALTH_PATH, timeout=timeout) as resp:
                return resp.status
        except HTTPError as e:
            return e.code
        except (URLError, OSError):
            return None

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until /health is 200; on a traceback, an exit or the timeout: stop, raise."""
        try:
            self._group.wait_ready(lambda: self.health() == 200, timeout, FAILURE_MARKER, POLL_S)
        except supervisor.StartFailure as e:
            what = {"exited": f"exited with status {e.returncode} while starting",
                    "marker": "failed while starting",
                    "timeout": f"did not become healthy within {timeout:g} s"}[e.why]
            raise LightLLMStartFailed(
                f"LightLLM for '{self.config.name}' (port {self.config.port}) {what}; "
                f"all its processes were stopped. Full log: {self.log_path}\n"
                f"{first_traceback(self._log_text())}"
            ) from None

    def _log_text(self) -> str:
        return self._group.log_text()

    def running(self) -> bool:
        """True while any process of the group is alive."""
        return self._group.running()

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after `grace` seconds."""
        self._group.stop(grace)

    def __enter__(self) -> LightLLMServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_env(python: str, lightllm_dir: Path | None, base: dict[str, str]) -> dict[str, str]:
    """LightLLM's environment: its source on PYTHONPATH, its interpreter's bin/ first on PATH
    (LightLLM starts `gunicorn` from PATH, which must be the one of its own environment)."""
    env = dict(base)
    if lightllm_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(lightllm_dir), env.get("PYTHONPATH")]))
    if os.sep in python:
        env["PATH"] = os.pathsep.join(filter(None, [str(Path(python).parent), env.get("PATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    for name, value in NO_MULTICAST_ENV.items():  # an operator's explicit value wins
        env.setdefault(name, value)
    return env


def start(
    config: LaunchConfig, *, python: str, lightllm_dir: Path | None, log_path: Path
) -> LightLLMServer:
    """Start LightLLM in its own process group (not waiting for it); see `launch`."""
    config = resolve_ports(config)
    command = build_command(python, config)
    env = launch_env(python, lightllm_dir, os.environ)
    try:
        group = supervisor.start(command, log_path, env=env, header=True)
    except FileNotFoundError as e:
        raise LightLLMStartFailed(
            f"Cannot run LightLLM's interpreter '{python}' ({e.strerror}). Set "
            "LEGAL_RAG_LIGHTLLM_PYTHON to the python of LightLLM's environment (docs/gpu.md)."
        ) from e
    return LightLLMServer(group.process, config, log_path)


def launch(
    config: LaunchConfig,
    *,
    python: str,
    lightllm_dir: Path | None,
    log_path: Path,
    timeout: float = START_TIMEOUT_S,
) -> LightLLMServer:
    """Start LightLLM and return it once /health answers 200; raise LightLLMStartFailed."""
    if not (Path(config.model_dir) / "config.json").is_file():
        raise LightLLMStartFailed(
            f"{config.model_dir} is not a model directory (no config.json). Pass a Hugging Face "
            "style folder, e.g. one written by `python -m server merge`."
        )
    server = start(config, python=python, lightllm_dir=lightllm_dir, log_path=log_path)
    try:
        server.wait_ready(timeout)
    except BaseException:  # Ctrl-C or SIGTERM while loading: leave nothing running
        server.stop()
        raise
    return server


# ---------------------------------------------------------------- in the foreground


def model_type(model_dir: Path) -> str:
    """config.json's model_type ("qwen3", "qwen2_vl", ...); "" when unreadable."""
    try:
        return str(json.loads((Path(model_dir) / "config.json").read_text()).get("model_type", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def endpoint_entry(name: str, base_url: str, context_tokens: int, kind: str) -> dict:
    """The LEGAL_RAG_ENDPOINTS entry for a launched server; vision models get their image tag."""
    entry = {"base_url": base_url, "model": name, "context_tokens": context_tokens}
    if kind in VISION_IMAGE_TAGS:
        entry.update(kind="vision", image_tag=VISION_IMAGE_TAGS[kind])
    return {name: entry}


def model_flags(model_dir: Path, extra_args: tuple[str, ...] = ()) -> tuple[str, ...]:
    """extra_args plus what the model in model_dir needs: a vision model --enable_multimodal."""
    if model_type(model_dir) in VISION_IMAGE_TAGS and "--enable_multimodal" not in extra_args:
        return (*extra_args, "--enable_multimodal")  # without it LightLLM serves the model blind
    return extra_args


def serve(config: LaunchConfig, *, python: str, lightllm_dir: Path | None, log_path: Path,
          timeout: float = START_TIMEOUT_S) -> int:
    """`python -m server launch`: start LightLLM, print the LEGAL_RAG_ENDPOINTS entry to use and
    keep it running until Ctrl-C or SIGTERM (then stop it: 0; 130 while it was starting).
    A server that exits by itself raises LightLLMStartFailed with its traceback."""
    kind = model_type(config.model_dir)
    # SIGTERM (kill, systemd, a test harness) stops the group the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"starting LightLLM for '{config.name}' (log: {log_path}) ...", file=sys.stderr, flush=True)
    try:
        server = launch(config, python=python, lightllm_dir=lightllm_dir, log_path=log_path, timeout=timeout)
    except KeyboardInterrupt:
        print("interrupted while starting; LightLLM stopped", file=sys.stderr, flush=True)
        return 130
    # The request budget LightLLM enforces is the window the app sizes its RAG prompt to.
    endpoint = endpoint_entry(config.name, server.base_url, config.max_req_total_len, kind)
    try:  # the prints are inside: a SIGTERM right after "ready" must still stop LightLLM
        print(f"ready: {server.base_url} (pid group {server.process.pid})", flush=True)
        print(f"use it: LEGAL_RAG_ENDPOINTS='{_json(endpoint)}'", flush=True)
        while server.process.poll() is None:
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopping LightLLM ...", file=sys.stderr, flush=True)
        server.stop()
        return 0
    server.stop()
    raise LightLLMStartFailed(
        f"LightLLM for '{config.name}' exited with status {server.process.returncode}. "
        f"Log: {log_path}\n{first_traceback(server._log_text())}"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
