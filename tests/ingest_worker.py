"""A fork server for tests/test_concurrency.py: runs `python -m rag ...` command lines in
forked child processes, so a test can start (and kill -9) many CLI processes without paying
the ~20 s of importing torch, the embedding stack, LanceDB and psycopg for each one.

    python -m tests.ingest_worker        (cwd: the repository root)

Protocol: one JSON object per line on stdin, {"argv": [...], "env": {NAME: value or null},
"stdout": path, "stderr": path}; the worker forks, answers {"pid": N} on stdout, and later
{"exit": N, "rc": code} (a negative code: killed by that signal). End of stdin: children still
running are killed and the worker exits.

A child clears the settings cache, applies `env` (null unsets), points fds 1 and 2 at its files
and runs rag.__main__.main(argv): the CLI's own path from settings to exit code. The one
shortcut: the embedder model the settings name is loaded once in the parent, and the child's
library gets that copy. An uncaught exception prints its traceback and exits 1, as `python -m
rag` would. The parent imports modules and loads weights only: it opens no database, no
LanceDB table and runs no torch op, so nothing it holds (threads, connections, an OpenMP pool)
is half-copied into a child.
Does not: run anything but the rag CLI, or run children of its own in threads.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
import traceback
import warnings

POLL_S = 0.02  # how often exited children are reaped while waiting for the next command


def preload() -> None:
    """Import what every `python -m rag ingest` imports, so forked children start warm."""
    from rag.retrieval.embeddings import _import_torch_for_cpu

    _import_torch_for_cpu(None)  # torch with the product's OpenMP wait policy
    import lancedb  # noqa: F401
    import llama_index.embeddings.huggingface  # noqa: F401
    import psycopg  # noqa: F401
    import sentence_transformers  # noqa: F401

    import rag.__main__  # noqa: F401
    import rag.defaults  # noqa: F401
    import rag.ingest  # noqa: F401
    import rag.documents.load  # noqa: F401
    import rag.store.pg  # noqa: F401
    from settings import get_settings

    # The embedder the settings name, loaded (not run) once here: a child's library_from gets
    # this one instead of loading it again (~4 s of a child's start on 2 shared cores).
    settings = get_settings()
    embedder = rag.defaults.make_embedder(settings.embed_model, settings.models_dir)
    rag.defaults.embedder_from = lambda _settings: embedder
    get_settings.cache_clear()
    warnings.filterwarnings("ignore", "lancedb fork support")  # the parent holds no LanceDB state


def run_child(job: dict, protocol_fd: int) -> None:
    """In the forked child: become `python -m rag <argv>` and never return."""
    code = 1
    try:
        os.close(protocol_fd)
        for name, value in job.get("env", {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
        # fresh stream objects: a lock held by the parent at fork time must not block the child
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
        from settings import get_settings
        from rag.__main__ import main

        get_settings.cache_clear()
        try:
            code = main(job["argv"]) or 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - what `python -m rag` would print, then exit 1
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def serve() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    preload()
    children: set[int] = set()

    def reap(block: bool = False) -> None:
        while children:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            if pid == 0:
                return
            children.discard(pid)
            protocol.write(json.dumps({"exit": pid, "rc": os.waitstatus_to_exitcode(status)}) + "\n")

    protocol.write(json.dumps({"ready": os.getpid()}) + "\n")
    pending = b""
    while True:
        readable, _, _ = select.select([0], [], [], POLL_S)
        reap()
        if not readable:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in filter(None, lines):
            job = json.loads(line)
            pid = os.fork()
            if pid == 0:
                run_child(job, protocol.fileno())
            children.add(pid)
            protocol.write(json.dumps({"pid": pid}) + "\n")
    for pid in list(children):
        os.kill(pid, signal.SIGKILL)
    reap(block=True)


if __name__ == "__main__":
    serve()
