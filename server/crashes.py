"""What became of an embedded server that died: exit records beside its state file.

A record is written by whoever notices the death first: the process that started the server
(its watch thread has the exit status from waitpid), or any other process that finds the
recorded pid gone (a server started by `python -m server embedded` or another app process:
then only that it vanished is known, plus the signal when Python's faulthandler named it in
the log). Each record keeps the log's last lines, since the next start rewrites the log.
Records live in <state_dir>/exits/, one per dead pid, the newest few kept.

`crash_error` turns a record into ServerCrashed; a SIGILL gets the portability hint (the
build uses CPU instructions this machine does not allow) from server/llama_build.py when
that module is there. Does not start or stop anything (server/embedded.py does).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from server import supervisor
from server.errors import ServerCrashed

EXITS_DIR = "exits"
KEEP_RECORDS = 20
LOG_TAIL_LINES = 20
LINES_BEFORE_FATAL = 3
GENERIC_REINSTALL = ('Reinstall llama-cpp-python for this machine: CMAKE_ARGS="-DGGML_NATIVE=OFF" '
                     "pip install --force-reinstall --no-cache-dir llama-cpp-python")


@dataclass(frozen=True)
class Crash:
    pid: int
    port: int
    cause: str  # "killed by SIGILL (illegal instruction)", "vanished (…)"
    signal: str | None  # "SIGILL", or None when not known
    returncode: int | None  # None: another process was its parent, the status is unknown
    log_path: str
    log_tail: str
    when: float


def record(state_dir: Path, state: dict, log_path: Path, returncode: int | None) -> Crash:
    """Write (or upgrade) the exit record of the server described by `state` (pid, port).

    returncode None: the pid vanished and its status is unknown; an existing record with a
    status is then kept as it is."""
    path = _record_path(state_dir, state["pid"])
    known = _read(path)
    if known is not None and (returncode is None or known.returncode is not None):
        return known
    text = _read_log(log_path)
    crash = Crash(pid=state["pid"], port=state["port"], returncode=returncode,
                  log_path=str(log_path), log_tail=_tail(text), when=time.time(),
                  **_cause(returncode, text, state.get("started_by")))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")  # the watch thread may race a request
    tmp.write_text(json.dumps(asdict(crash), ensure_ascii=False))
    os.replace(tmp, path)
    _prune(path.parent)
    return crash


def find(state_dir: Path, port: int, pid: int | None = None) -> Crash | None:
    """The newest record of a server that listened on `port` (and had `pid`, if given)."""
    folder = state_dir / EXITS_DIR
    if pid is not None:
        found = _read(_record_path(state_dir, pid))
        return found if found and found.port == port else None
    crashes = [c for p in folder.glob("*.json") if (c := _read(p)) and c.port == port]
    return max(crashes, key=lambda c: c.when, default=None)


def latest(state_dir: Path) -> Crash | None:
    """The newest exit record in state_dir, whatever its port (what `python -m server health`
    reports when no server runs)."""
    crashes = [c for p in (state_dir / EXITS_DIR).glob("*.json") if (c := _read(p))]
    return max(crashes, key=lambda c: c.when, default=None)


def not_running_text(model: str, crash: Crash | None) -> str:
    """Why no embedded server answers: never started, or how the last one died (with the
    SIGILL hint, since starting it by hand would crash the same way)."""
    if crash is None:
        return (f"The embedded LLM server ({model}) is not running. "
                "Start it with `python -m server embedded`.")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(crash.when))
    text = f"The embedded LLM server ({model}) is not running: the last one (pid {crash.pid}) died at {when}: {crash.cause}."
    if crash.signal == "SIGILL":
        text += f" {sigill_hint()}"
    else:
        text += " The app and `python -m rag ask` start it again at the next question (`python -m server embedded` by hand)."
    if crash.log_tail:
        text += f"\nLast lines of its log ({crash.log_path}):\n{crash.log_tail}"
    return text


def crash_error(crash: Crash, url: str, during: str = "answering") -> ServerCrashed:
    return ServerCrashed(url, crash.cause, crash.log_path, crash.log_tail, crash.signal,
                         hint=sigill_hint() if crash.signal == "SIGILL" else "", during=during)


def sigill_hint() -> str:
    """Why a SIGILL happens here and how to get a build this CPU runs."""
    return ("The llama.cpp build (llama-cpp-python) uses CPU instructions this machine does not "
            f"allow{_non_portable()}, so a restart will most likely crash the same way. {reinstall_hint()}")


def reinstall_hint() -> str:
    try:
        from server.llama_build import REINSTALL_HINT  # the portability check's own advice
        return REINSTALL_HINT
    except Exception:  # noqa: BLE001 - the module may be missing or broken; the hint still helps
        return GENERIC_REINSTALL


def non_portable() -> list[str]:
    """Instruction sets the installed build was compiled for beyond portable x86-64 (AVX2)."""
    try:
        from server.llama_build import non_portable as check
        return list(check())
    except Exception:  # noqa: BLE001 - as above
        return []


def _non_portable() -> str:
    found = non_portable()
    return f" (it was compiled for {', '.join(found)})" if found else ""


def _cause(returncode: int | None, log: str, started_by: int | None) -> dict:
    if returncode is not None:
        sig = signal.Signals(-returncode).name if returncode < 0 and -returncode in signal.valid_signals() else None
        return {"cause": supervisor.exit_description(returncode), "signal": sig}
    from_log = supervisor.signal_from_log(log)
    who = f"process {started_by}" if started_by else "another process"
    if from_log is not None:
        return {"cause": f"{supervisor.signal_description(from_log)}, as its log says "
                         f"(it was started by {who})", "signal": signal.Signals(from_log).name}
    return {"cause": f"the process vanished without a word in its log (it was started by {who}, "
                     "so its exit status is unknown; SIGKILL, e.g. the out-of-memory killer, "
                     "leaves no trace)", "signal": None}


def _record_path(state_dir: Path, pid: int) -> Path:
    return state_dir / EXITS_DIR / f"{pid}.json"


def _read(path: Path) -> Crash | None:
    try:
        return Crash(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _read_log(log_path: Path) -> str:
    try:
        return log_path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(text: str) -> str:
    """The log's last lines; when faulthandler wrote its report, from a few lines before its
    "Fatal Python error" line on (the stacks after it would push that line out)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "(the log is empty)"
    fatal = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error: ")]
    start = max(fatal[-1] - LINES_BEFORE_FATAL, 0) if fatal else len(lines) - LOG_TAIL_LINES
    return "\n".join(lines[max(start, 0):][:LOG_TAIL_LINES])


def _prune(folder: Path) -> None:
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in records[:-KEEP_RECORDS]:
        old.unlink(missing_ok=True)
