"""The embedded CPU default: llama.cpp's OpenAI-compatible server on loopback, started on demand.

Owns two jobs: starting one server per model and state directory (found again by other
processes through a state file; a lock file keeps two callers from starting two), and stopping
it by process group (server/supervisor.py, shared with the LightLLM launcher). Does not find
or assemble the model file (server/weights/gguf.py does), does not talk chat
(server/client.py does), does not read settings (server/__main__.py and rag/defaults.py pass
values) and does not run GPU servers (server/lightllm.py does). A server already running keeps
its threads/ctx: the first caller decides them.

A server that dies after start-up is noticed: the starting process watches its child (exit
status), any process finds a recorded pid gone; either writes an exit record with the log's
tail (server/crashes.py). `EmbeddedStarter.diagnose(url)` tells the chat client whether the
server behind a failed request died and how; `restart()` starts a new one.
"""
from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import re
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence
from urllib.parse import urlsplit

import httpx

from server import crashes, supervisor
from server.errors import EmbeddedStartFailed, ServerCrashed
from server.llama_build import warn_if_not_portable
from server.weights.gguf import MODELS, model_file
from settings import Endpoint

HOST = "127.0.0.1"
START_TIMEOUT_S = 180.0  # loading a 1.5B GGUF takes ~2 s; a cold disk or a 7B much longer
LOG_TAIL_LINES = 20
PROBE_TIMEOUT_S = 5.0
# What makes answers faster on 2 CPU cores, measured lever by lever in bench/latency.py
# (docs/latency.md).
SPEED_FLAGS: tuple[str, ...] = ()
# After a failed request: how long the server may take to finish dying (faulthandler writes
# its traceback first), and how long a parent in another process may take to record the exit.
DEATH_WAIT_S = 3.0
RECORD_WAIT_S = 1.0

_STARTED: dict[str, supervisor.ProcessGroup] = {}  # state file -> server this process started


# -- server process -------------------------------------------------------------------------
def ensure_running(model: str, models_dir: Path, state_dir: Path, threads: int = 2,
                   ctx: int = 4096, stop_at_exit: bool = True,
                   flags: Sequence[str] | None = None) -> Endpoint:
    """The endpoint of the embedded server for `model`, starting it if no live one is recorded.

    stop_at_exit: stop it when this process exits, if this process started it.
    flags: llama_cpp.server options after the fixed ones (a repeated option: the last wins);
    None: SPEED_FLAGS. bench/latency.py passes others to measure each lever.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir / "embedded.lock"):
        found = running(model, state_dir)
        if not found:
            found = _start(model, model_file(model, models_dir), _state_file(state_dir, model), threads,
                           ctx, stop_at_exit, flags)
        return found.model_copy(update={"context_tokens": ctx})


def running(model: str, state_dir: Path) -> Endpoint | None:
    """The endpoint of a live, healthy embedded server for `model`, or None."""
    state_file = _state_file(state_dir, model)
    state = _read_state(state_file)
    if state is None or not _is_server(state["pid"]):
        if state is not None:  # it died: say how before a new start rewrites its log
            _record_death(state_file, state)
        state_file.unlink(missing_ok=True)
        return None
    endpoint = _endpoint(state["port"], state["alias"])
    if _answers(endpoint) is False:  # alive but its port is closed: hung, replace it
        _stop_state(state_file)
        return None
    return endpoint


def stop(state_dir: Path, model: str | None = None) -> list[int]:
    """Stop the embedded servers recorded in state_dir (only `model`'s if given); their pids."""
    files = [_state_file(state_dir, model)] if model else sorted(state_dir.glob("embedded-*.json"))
    return [pid for f in files if (pid := _stop_state(f)) is not None]


def crashed(model: str, state_dir: Path, url: str, wait_s: float = DEATH_WAIT_S) -> crashes.Crash | None:
    """Did the embedded server that listened at `url` die? Its exit record, or None when it
    is alive (the request failed for another reason) or nothing is known of it.

    Waits up to wait_s for a server that is dying (its socket closes before its exit)."""
    port = urlsplit(url).port
    state_file = _state_file(state_dir, model)
    deadline = time.monotonic() + wait_s
    while True:
        state = _read_state(state_file)
        if state is not None and state["port"] == port:
            if not _is_server(state["pid"]):
                return _record_death(state_file, state)
        elif (found := crashes.find(state_dir, port)) is not None:
            return found  # already replaced by a restart; its death was recorded
        if time.monotonic() > deadline:
            return None
        time.sleep(supervisor.POLL_S / 2)


class EmbeddedStarter:
    """The on-demand start the app and CLIs hand to server.endpoints.client_for (call it), and
    what a ChatClient asks after a failed request: `diagnose(url)`, then `restart()`."""

    def __init__(self, start: Callable[[], Endpoint], model: str, state_dir: Path):
        self._start, self.model, self.state_dir = start, model, state_dir

    def __call__(self) -> Endpoint:
        return self._start()

    def restart(self) -> Endpoint:
        """A live server again: the one another caller already started, or a new one."""
        return self._start()

    def diagnose(self, url: str, during: str = "answering") -> ServerCrashed | None:
        crash = crashed(self.model, self.state_dir, url)
        return crashes.crash_error(crash, url, during) if crash else None


def starter(model: str, models_dir: Path, state_dir: Path, threads: int = 2,
            ctx: int = 4096) -> EmbeddedStarter:
    """The on-demand start the app and CLIs hand to server.endpoints (values from settings:
    embedded_model, models_dir, state_dir(data_dir), embedded_threads, embedded_ctx)."""
    return EmbeddedStarter(lambda: ensure_running(model, models_dir, state_dir, threads, ctx),
                           model, state_dir)


def state_dir(data_dir: Path) -> Path:
    """Where the embedded servers' state files, logs and exit records live."""
    return Path(data_dir) / "run"


def started_here(model: str, state_dir: Path) -> supervisor.ProcessGroup | None:
    """The server for `model` when this process started it (`embedded --foreground` waits on it)."""
    return _STARTED.get(str(_state_file(state_dir, model)))


def _start(model: str, path: Path, state_file: Path, threads: int, ctx: int,
           stop_at_exit: bool, flags: Sequence[str] | None = None) -> Endpoint:
    alias = model if model in MODELS else path.stem
    port = _free_port()
    log_path = state_file.with_suffix(".log")
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", alias,
           "--host", HOST, "--port", str(port), "--n_threads", str(threads),
           "--n_threads_batch", str(threads), "--n_ctx", str(ctx),
           # By default a new request ends the running stream with [DONE], silently cutting
           # off another user's answer; queue them instead.
           "--interrupt_requests", "false", *(SPEED_FLAGS if flags is None else flags)]
    # faulthandler: a SIGILL or SIGSEGV in llama.cpp leaves "Fatal Python error: …" and the
    # Python stack in the log, which is all that is known when another process was its parent.
    warn_if_not_portable()  # one stderr line with the reinstall command, before it can crash
    server = supervisor.start(cmd, log_path, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    endpoint = _endpoint(port, alias)
    try:  # a failure or Ctrl-C while loading stops the group: no server is left behind
        server.wait_ready(lambda: bool(_answers(endpoint)), START_TIMEOUT_S)
    except supervisor.StartFailure as e:
        what = (f"exited with code {e.returncode} while starting" if e.why == "exited"
                else f"did not answer within {START_TIMEOUT_S:g} s (stopped)")
        raise EmbeddedStartFailed(f"The embedded llama.cpp server {what}. Last lines of "
                                  f"{log_path}:\n{supervisor.tail(log_path, LOG_TAIL_LINES)}") from None
    proc = server.process
    tmp = state_file.with_suffix(".tmp")
    state = {"pid": proc.pid, "port": port, "model": model, "alias": alias, "path": str(path),
             "started_by": os.getpid(), "log": str(log_path)}
    tmp.write_text(json.dumps(state))
    os.replace(tmp, state_file)
    _STARTED[str(state_file)] = server
    server.watch(lambda returncode: crashes.record(state_file.parent, state, log_path, returncode))
    if stop_at_exit:
        atexit.register(_stop_if_ours, state_file, proc.pid)
    return endpoint


def _answers(endpoint: Endpoint) -> bool | None:
    """True: HTTP answers; False: connection refused; None: no answer in time (busy?).

    llama.cpp's server binds its port only after loading the model, so any HTTP answer (its
    /health is a 404) means ready. Not ChatClient.health: its /v1/models fallback waits for
    the generation in progress to finish.
    """
    try:
        httpx.get(f"{endpoint.base_url.removesuffix('/v1')}/health", timeout=PROBE_TIMEOUT_S)
        return True
    except httpx.ConnectError:
        return False
    except httpx.HTTPError:
        return None


def _stop_state(state_file: Path) -> int | None:
    state = _read_state(state_file)
    state_file.unlink(missing_ok=True)
    if state is None or not _is_server(state["pid"]):
        return None
    ours = _STARTED.pop(str(state_file), None)
    if ours is not None and ours.pid == state["pid"]:
        ours.stopping = True  # a stop, not a death: its watch thread reports nothing
    supervisor.stop_group(state["pid"], ours.process if ours else None)
    return state["pid"]


def _record_death(state_file: Path, state: dict) -> crashes.Crash:
    """The exit record of the recorded server, which is gone: with its exit status when this
    process started it, else what can be known (the parent, if alive, may record it first)."""
    ours = _STARTED.get(str(state_file))
    log_path = Path(state.get("log") or state_file.with_suffix(".log"))
    if ours is not None and ours.pid == state["pid"]:
        return crashes.record(state_file.parent, state, log_path, ours.returncode(DEATH_WAIT_S))
    deadline = time.monotonic() + RECORD_WAIT_S
    while time.monotonic() < deadline:
        found = crashes.find(state_file.parent, state["port"], state["pid"])
        if found is not None and found.returncode is not None:
            return found
        time.sleep(supervisor.POLL_S / 2)
    return crashes.record(state_file.parent, state, log_path, None)


def _stop_if_ours(state_file: Path, pid: int) -> None:
    """At exit: stop the server this process started, not one that replaced it since."""
    if (_read_state(state_file) or {}).get("pid") == pid:
        _stop_state(state_file)


def _is_server(pid: int) -> bool:
    """Alive and still llama.cpp's server (pids are reused)."""
    try:
        return supervisor.alive(pid) and b"llama_cpp.server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # per open file: also serialises threads
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _state_file(state_dir: Path, model: str) -> Path:
    key = re.sub(r"[^A-Za-z0-9._-]", "_", Path(model).name)[:60]
    return state_dir / f"embedded-{key}-{hashlib.sha1(model.encode()).hexdigest()[:8]}.json"


def _read_state(state_file: Path) -> dict | None:
    try:
        return json.loads(state_file.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _endpoint(port: int, alias: str) -> Endpoint:
    return Endpoint(base_url=f"http://{HOST}:{port}/v1", model=alias,
                    label=f"内置 CPU 模型 {alias}（llama.cpp）")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]
