"""One supervisor for the inference servers the project starts (llama.cpp, LightLLM).

A server is started in its own process group with stdout and stderr in a log file, waited
for until a health probe says ready, and stopped as a group: SIGTERM, then SIGKILL for what
lingers, so no worker, detokenizer or gunicorn child outlives it. The wait fails fast when the
process exits or when a failure marker (LightLLM's "Traceback": its failed start logs and
hangs) appears in the log; the group is stopped before `StartFailure` is raised, and the
caller turns it into its own typed error with the log's tail.

After start-up, `watch` keeps a thread waiting on the leader, so a server that dies later
(SIGILL at its first request, the OOM killer) is noticed with its exit status; a deliberate
`stop` is not reported. `exit_description` names a status ("killed by SIGILL (illegal
instruction)"); `signal_from_log` reads the signal from Python's faulthandler lines where the
status cannot be had (a server another process started).

Does not know what it runs: the command line, the probe and the messages belong to
server/embedded.py and server/lightllm.py.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Literal

POLL_S = 0.2
STOP_GRACE_S = 10.0
FLUSH_S = 1.0  # a traceback being written: let its last line reach the log
# What a signal means to the person whose server it killed; the rest get signal.strsignal.
SIGNAL_MEANING = {
    signal.SIGILL: "illegal instruction",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating-point exception",
    signal.SIGKILL: "forced kill: the out-of-memory killer or `kill -9`",
    signal.SIGTERM: "terminated",
}
# Python's faulthandler (PYTHONFAULTHANDLER=1) writes "Fatal Python error: <this>" before the
# signal ends the process.
FAULTHANDLER_SIGNALS = {
    "Illegal instruction": signal.SIGILL,
    "Segmentation fault": signal.SIGSEGV,
    "Aborted": signal.SIGABRT,
    "Bus error": signal.SIGBUS,
    "Floating-point exception": signal.SIGFPE,
    "Floating point exception": signal.SIGFPE,
}


class StartFailure(Exception):
    """The server did not become ready; the group is already stopped. `why` says how."""

    def __init__(self, why: Literal["exited", "marker", "timeout"], returncode: int | None = None):
        super().__init__(why)
        self.why, self.returncode = why, returncode


class ProcessGroup:
    """A started server: its leader process, which is also its process group id."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path
        self.exited = threading.Event()  # set by the watch thread once the leader is reaped
        self.stopping = False  # stop() was asked for: the exit is not a death to report

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, probe: Callable[[], bool], timeout: float,
                   failure_marker: str | None = None, poll_s: float = POLL_S) -> None:
        """Block until `probe()` is true; on an exit, the marker in the log or the timeout:
        stop the group and raise StartFailure. Ctrl-C while waiting also stops the group."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise StartFailure("exited", self.process.returncode)
                if failure_marker and failure_marker in self.log_text():
                    time.sleep(FLUSH_S)
                    raise StartFailure("marker")
                if probe():
                    return
                if time.monotonic() > deadline:
                    raise StartFailure("timeout")
                time.sleep(poll_s)
        except BaseException:
            self.stop()
            raise

    def running(self) -> bool:
        """True while any process of the group is alive."""
        return group_alive(self.pid)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        self.stopping = True
        stop_group(self.pid, self.process, grace)

    def watch(self, on_death: Callable[[int], None]) -> threading.Thread:
        """Wait on the leader in a daemon thread; when it exits without stop() having been
        asked for, call on_death(returncode) (negative: killed by that signal)."""
        def wait() -> None:
            returncode = self.process.wait()
            self.exited.set()
            if not self.stopping:
                on_death(returncode)

        thread = threading.Thread(target=wait, name=f"watch-{self.pid}", daemon=True)
        thread.start()
        return thread

    def returncode(self, timeout: float) -> int | None:
        """The leader's exit status once it has exited (waiting up to `timeout`), else None."""
        if self.exited.wait(timeout) or self.process.poll() is not None:
            return self.process.returncode
        return None


def start(command: list[str], log_path: Path, env: dict[str, str] | None = None,
          header: bool = False) -> ProcessGroup:
    """Start `command` in a new session (its own process group), output appended to log_path.

    header: write the command line as the log's first line ("$ ..."). Raises OSError
    (FileNotFoundError for a missing interpreter) as Popen does.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        if header:
            log.write(("$ " + shlex.join(command) + "\n").encode())
            log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    return ProcessGroup(process, log_path)


def stop_group(pgid: int, process: subprocess.Popen | None = None,
               grace: float = STOP_GRACE_S) -> None:
    """SIGTERM the group, SIGKILL it after `grace` seconds; reap `process` if it is our child.

    Works for a group another process started (process None), e.g. one found in a state file.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_alive(pgid):
            _reap(process)
            time.sleep(0.1)
        if not group_alive(pgid):
            break
    _reap(process, grace)  # our own leader: collect its exit status, leave no zombie


def _reap(process: subprocess.Popen | None, timeout: float = 0) -> None:
    if process is not None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the group? Reads /proc where it exists."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def exit_description(returncode: int) -> str:
    """ "killed by SIGILL (illegal instruction)", "exited with code 1", "exited normally"."""
    if returncode < 0:
        return signal_description(-returncode)
    return "exited normally (code 0)" if returncode == 0 else f"exited with code {returncode}"


def signal_description(signum: int) -> str:
    try:
        sig = signal.Signals(signum)
    except ValueError:
        return f"killed by signal {signum}"
    meaning = SIGNAL_MEANING.get(sig) or (signal.strsignal(sig) or "").lower()
    return f"killed by {sig.name}" + (f" ({meaning})" if meaning else "")


def signal_from_log(text: str) -> int | None:
    """The signal named by the last "Fatal Python error: …" line in a log, if any."""
    found = None
    for line in text.splitlines():
        if line.startswith("Fatal Python error: "):
            found = FAULTHANDLER_SIGNALS.get(line.removeprefix("Fatal Python error: ").strip(), found)
    return int(found) if found is not None else None


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
