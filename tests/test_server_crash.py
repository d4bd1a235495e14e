"""A real embedded llama.cpp server (0.5B) killed on purpose: SIGILL (what a native build does
on a CPU that lacks its instructions) and SIGKILL (the OOM killer), mid-answer, before the
answer and after a restart; and one started by another process.

Each test has its own server in its own state dir, so killing it touches no other test.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server import crashes
from server.client import RESTARTED_NOTE, ChatClient
from server.embedded import EmbeddedStarter, ensure_running, stop
from server.errors import ServerCrashed
from settings import ROOT, get_settings
from tests.conftest import EMBEDDED_TEST_MODEL

pytestmark = pytest.mark.slow
QUESTION = [{"role": "user", "content": "请详细介绍劳动合同法关于试用期的规定。"}]
SIGNALS = {"SIGILL": "killed by SIGILL (illegal instruction)",
           "SIGKILL": "killed by SIGKILL (forced kill: the out-of-memory killer or `kill -9`)"}


def server_pid(state_dir: Path) -> int:
    (state_file,) = state_dir.glob("embedded-*.json")
    return json.loads(state_file.read_text())["pid"]


@pytest.fixture
def state_dir(tmp_path):
    state_dir = tmp_path / "run"
    yield state_dir
    stop(state_dir)


def own_starter(state_dir: Path) -> EmbeddedStarter:
    return EmbeddedStarter(lambda: ensure_running(EMBEDDED_TEST_MODEL, get_settings().models_dir, state_dir),
                           EMBEDDED_TEST_MODEL, state_dir)


def client_for(starter: EmbeddedStarter) -> ChatClient:
    return ChatClient(starter(), "embedded", timeout=300, lifecycle=starter)


def kill_mid_answer(client: ChatClient, pid: int, sig: signal.Signals, after: int = 4) -> ServerCrashed:
    """Stream an answer and kill the server once `after` answer deltas have arrived."""
    got = 0
    with pytest.raises(ServerCrashed) as info:
        for d in client.stream(QUESTION, max_tokens=400, temperature=0):
            got += d.kind == "answer"
            if got == after:
                os.kill(pid, sig)
    return info.value


@pytest.mark.parametrize("sig", ["SIGILL", "SIGKILL"])
def test_a_death_mid_answer_is_named_and_the_next_question_restarts_the_server(state_dir, sig):
    client = client_for(own_starter(state_dir))
    pid = server_pid(state_dir)
    crash = kill_mid_answer(client, pid, signal.Signals[sig])
    message = str(crash)
    assert crash.signal == sig and crash.partial and not crash.again
    assert f"crashed while answering: {SIGNALS[sig]}" in message
    assert f"stopped after {len(crash.partial)} characters; what arrived is kept" in message
    assert "Start it with" not in message and "python -m server embedded" not in message
    assert f"Last lines of its log ({state_dir}" in message and crash.log_tail in message
    if sig == "SIGILL":
        assert "Fatal Python error: Illegal instruction" in crash.log_tail  # faulthandler's report
        assert "uses CPU instructions this machine does not allow" in message
        assert crashes.reinstall_hint() in message
    else:
        assert "CPU instructions" not in message
    record = crashes.find(state_dir, crash_port(crash), pid)
    assert record.returncode == -signal.Signals[sig]  # our child: the exact exit status
    # The server is named in the sidebar's health check too, and restarted by the next question.
    with pytest.raises(ServerCrashed, match="It is restarted at the next question"):
        client.health()
    reply = client.chat(QUESTION, max_tokens=16, temperature=0)
    assert reply.answer and not reply.reasoning  # the restart note is not part of the reply
    assert server_pid(state_dir) != pid and client.health() == "ok"


def test_a_death_before_the_answer_restarts_once_and_answers(state_dir):
    client = client_for(own_starter(state_dir))
    pid = server_pid(state_dir)
    os.kill(pid, signal.SIGILL)
    deltas = list(client.stream(QUESTION, max_tokens=16, temperature=0))
    assert deltas[0].kind == "note"
    assert deltas[0].text == RESTARTED_NOTE.format(cause=SIGNALS["SIGILL"])
    assert "".join(d.text for d in deltas if d.kind == "answer")
    assert server_pid(state_dir) != pid


def test_a_second_death_after_the_restart_says_crashed_again(state_dir, monkeypatch):
    starter = own_starter(state_dir)
    client = client_for(starter)
    os.kill(server_pid(state_dir), signal.SIGILL)
    restarted = starter.restart

    def restart_and_die():  # the restarted server dies too, before it is asked anything
        endpoint = restarted()
        os.kill(server_pid(state_dir), signal.SIGILL)
        return endpoint

    monkeypatch.setattr(starter, "restart", restart_and_die)
    with pytest.raises(ServerCrashed) as info:
        list(client.stream(QUESTION, max_tokens=16))
    assert info.value.again and "crashed again after a restart: killed by SIGILL (illegal instruction)" in str(info.value)
    assert "Fatal Python error: Illegal instruction" in info.value.log_tail


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGILL"])
def test_a_server_started_by_another_process_is_named_when_it_dies(tmp_path, state_dir, sig):
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    env = {**os.environ, "LEGAL_RAG_DATA_DIR": str(data), "LEGAL_RAG_EMBEDDED_MODEL": EMBEDDED_TEST_MODEL}
    (data / "models").symlink_to(get_settings().models_dir)
    started = subprocess.run([sys.executable, "-m", "server", "embedded"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    foreign = data / "run"
    try:
        client = client_for(own_starter(foreign))  # finds the running one; not our child
        pid = server_pid(foreign)
        crash = kill_mid_answer(client, pid, signal.Signals[sig])
        if sig == "SIGKILL":
            assert "the process vanished without a word in its log" in crash.cause and crash.signal is None
        else:
            assert crash.cause.startswith("killed by SIGILL (illegal instruction), as its log says")
            assert crash.signal == "SIGILL" and "CPU instructions" in str(crash)
        assert "started by process" in crash.cause  # `python -m server embedded`, gone since
        assert crash.partial and crash.log_tail and "Start it with" not in str(crash)
        assert crashes.find(foreign, crash_port(crash), pid).returncode is None
        health = subprocess.run([sys.executable, "-m", "server", "health"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert health.returncode == 1 and f"the last one (pid {pid}) died at" in health.stderr, health.stderr
        assert crash.cause in health.stderr and "Start it with" not in health.stderr
        assert ("CPU instructions" in health.stderr) == (sig == "SIGILL")
        assert client.chat(QUESTION, max_tokens=8).answer  # restarted, by us this time
    finally:
        stop(foreign)


def crash_port(crash: ServerCrashed) -> int:
    return int(crash.url.rsplit(":", 1)[1].split("/")[0])


# -- `python -m rag ask`: the CLI starts its own embedded server (its child) and is killed under it
ASK_QUESTION = "公司解除劳动合同要付经济补偿吗？"


@pytest.fixture
def cli_data(tmp_path, tmp_path_factory, embedder):
    from tests.browser import TEST_KB, prepare_data_dir, template_kbs

    data = prepare_data_dir(tmp_path / "data", template_kbs(tmp_path_factory, embedder))
    env = {**os.environ, "LEGAL_RAG_DATA_DIR": str(data), "LEGAL_RAG_DEFAULT_KB": TEST_KB,
           "LEGAL_RAG_EMBEDDED_MODEL": EMBEDDED_TEST_MODEL,
           "LEGAL_RAG_ENDPOINTS": json.dumps({"embedded": {"label": "embedded"}})}
    yield data, env
    stop(data / "run")


def ask_and_kill(env: dict, state_dir: Path, sig: signal.Signals, kill_restarted: bool = False):
    """`python -m rag ask --raw`; kill its server once 10 characters of the RAG answer are out,
    and (kill_restarted) the restarted one as soon as it is recorded. (rc, stdout, stderr, pids)."""
    proc = subprocess.Popen([sys.executable, "-m", "rag", "ask", ASK_QUESTION, "--raw"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, killed = b"", []
    os.set_blocking(proc.stdout.fileno(), False)
    while proc.poll() is None and len(killed) < 1 + kill_restarted:
        out += proc.stdout.read() or b""
        answered = out.decode(errors="ignore").partition("== RAG answer")[2]
        if not killed and len(answered.strip()) >= 10:
            killed.append(server_pid(state_dir))
            os.kill(killed[0], sig)
        elif killed and kill_restarted and list(state_dir.glob("embedded-*.json")):
            if (pid := server_pid(state_dir)) != killed[0]:
                killed.append(pid)
                os.kill(pid, sig)
        time.sleep(0.05)
    os.set_blocking(proc.stdout.fileno(), True)
    rest, err = proc.communicate(timeout=600)
    return proc.returncode, (out + rest).decode(), err.decode(), killed


def test_rag_ask_names_a_sigill_keeps_the_partial_answer_and_the_raw_answer_restarts(cli_data):
    data, env = cli_data
    rc, out, err, killed = ask_and_kill(env, data / "run", signal.SIGILL)
    assert rc == 1 and len(killed) == 1, (out, err)
    assert f"crashed while answering: {SIGNALS['SIGILL']}" in err
    assert "uses CPU instructions this machine does not allow" in err and crashes.reinstall_hint() in err
    assert "Fatal Python error: Illegal instruction" in err  # the log's last lines
    assert "Start it with" not in err and "python -m server embedded" not in err
    rag_part, _, raw_part = out.partition("== Raw model")
    assert len(rag_part.partition("== RAG answer")[2].strip()) >= 10  # what arrived is kept
    assert RESTARTED_NOTE.format(cause=SIGNALS["SIGILL"]).strip() in err  # the raw request restarted it
    assert raw_part.partition("== Retrieved articles")[0].strip()  # and was answered
    assert "== Retrieved articles" in out and "劳动合同法" in out.partition("== Retrieved articles")[2]
    record = json.loads((data / "run" / crashes.EXITS_DIR / f"{killed[0]}.json").read_text())
    assert record["returncode"] == -signal.SIGILL  # the CLI was its parent: the exact status


def test_rag_ask_says_crashed_again_when_the_restarted_server_dies_too(cli_data):
    data, env = cli_data
    rc, out, err, killed = ask_and_kill(env, data / "run", signal.SIGKILL, kill_restarted=True)
    assert rc == 1 and len(killed) == 2, (out, err)
    assert f"crashed while answering: {SIGNALS['SIGKILL']}" in err  # the RAG answer
    assert f"crashed again after a restart: {SIGNALS['SIGKILL']}" in err  # the raw one, after the restart
    assert "CPU instructions" not in err and "Start it with" not in err
    articles = out.partition("== Retrieved articles")[2]
    assert articles.count("《劳动合同法》第") == get_settings().top_k  # still shown
