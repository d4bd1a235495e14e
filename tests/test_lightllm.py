"""LightLLM launcher: command line, fail-fast on a failed start, health wait, group stop.

A real LightLLM needs a GPU (bench/gpu_verify.sh runs it there). Here a fake
`lightllm.server.api_server` package, written to a temp dir and put on PYTHONPATH the
way settings.lightllm_dir is, plays the failures we cannot provoke otherwise: a start
that logs a traceback and hangs (what LightLLM does), one that exits, and one that
answers 503 while "loading". Each fake also starts a child process, as LightLLM's
router and detokenizer do, so the tests can check that no process outlives stop().
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from server.lightllm import (
    API_MODULE,
    LaunchConfig,
    LightLLMStartFailed,
    build_command,
    default_ports,
    first_traceback,
    launch,
    launch_env,
    port_is_free,
    resolve_ports,
)

ROOT = Path(__file__).resolve().parents[1]

FAKE_API_SERVER = textwrap.dedent(
    '''
    """Fake LightLLM api_server: behaviour from FAKE_LIGHTLLM_MODE."""
    import argparse, os, subprocess, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args, _ = parser.parse_known_args()
    mode = os.environ["FAKE_LIGHTLLM_MODE"]

    # a worker in the same process group, like LightLLM's router/detokenizer
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["FAKE_LIGHTLLM_PIDS"], "w") as f:
        f.write(f"{os.getpid()} {child.pid}")

    print("INFO loading model weights", flush=True)
    if mode == "traceback":
        time.sleep(0.5)
        print("Traceback (most recent call last):", flush=True)
        print('  File "lightllm/common/basemodel/basemodel.py", line 1', flush=True)
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB", flush=True)
        time.sleep(600)  # like LightLLM: the failed start does not exit
    if mode == "exit":
        time.sleep(0.5)
        sys.exit(3)

    ready_at = time.monotonic() + (1.5 if mode == "ok" else 600)  # "loading": never ready

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            ok = time.monotonic() > ready_at
            self.send_response(200 if ok else 503)
            self.end_headers()
            self.wfile.write(b'{"message": "Ok"}' if ok else b'{"message": "Error"}')

        def log_message(self, *a):
            pass

    ThreadingHTTPServer((args.host, args.port), Health).serve_forever()
    '''
)


@pytest.fixture
def fake_lightllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake LightLLM source dir; returns a function mode -> (dir, pids file)."""
    src = tmp_path / "lightllm_src"
    pkg = src / "lightllm" / "server"
    pkg.mkdir(parents=True)
    (src / "lightllm" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "api_server.py").write_text(FAKE_API_SERVER)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    pids = tmp_path / "pids"
    monkeypatch.setenv("FAKE_LIGHTLLM_PIDS", str(pids))

    def use(mode: str) -> tuple[Path, Path, Path]:
        monkeypatch.setenv("FAKE_LIGHTLLM_MODE", mode)
        return src, model, pids

    return use


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _kill_fake(path: Path) -> None:
    """After a failed assertion: end the fake's processes (started by this test) by pid."""
    for pid in _pids(path):
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _config(model: Path, name: str = "legal") -> LaunchConfig:
    return LaunchConfig(model_dir=model, name=name)


# ------------------------------------------------------------------ build_command


def test_build_command_has_every_setting_as_a_lightllm_flag():
    config = LaunchConfig(
        model_dir=Path("/models/qwen3-8b"), name="legal", port=8123, nccl_port=28123, tp=2,
        max_total_token_num=150000, max_req_total_len=8192, extra_args=("--disable_log_stats",),
    )  # fmt: skip
    cmd = build_command("/opt/lightllm/bin/python", config)
    assert cmd[:3] == ["/opt/lightllm/bin/python", "-m", API_MODULE]
    flags = dict(zip(cmd[3::2], cmd[4::2]))
    assert flags["--model_dir"] == "/models/qwen3-8b"
    assert flags["--port"] == "8123" and flags["--nccl_port"] == "28123"
    assert flags["--tp"] == "2"
    assert flags["--max_total_token_num"] == "150000"
    assert flags["--max_req_total_len"] == "8192"
    assert flags["--graph_max_len_in_batch"] == "8192"  # CUDA graphs cover the whole RAG budget
    assert flags["--data_type"] == "bf16"
    assert flags["--mode"] == "triton_gqa_flashdecoding"  # GQA decode kernel: 1.8x at 128 concurrent
    assert cmd[-1] == "--disable_log_stats"


def test_build_command_without_mode_keeps_lightllm_kernels():
    cmd = build_command("python3", LaunchConfig(model_dir=Path("m"), port=1, nccl_port=2, mode=()))
    assert "--mode" not in cmd


def test_build_command_refuses_unresolved_or_clashing_ports():
    with pytest.raises(ValueError):
        build_command("python3", LaunchConfig(model_dir=Path("m")))
    with pytest.raises(ValueError):
        build_command("python3", LaunchConfig(model_dir=Path("m"), port=9000, nccl_port=9000))


def test_lightllm_env_puts_its_source_and_its_gunicorn_first():
    env = launch_env("/opt/ll-env/bin/python", Path("/src/lightllm"), {"PATH": "/usr/bin", "PYTHONPATH": "/x"})
    assert env["PYTHONPATH"] == os.pathsep.join(["/src/lightllm", "/x"])
    assert env["PATH"].split(os.pathsep)[0] == "/opt/ll-env/bin"
    assert launch_env("python3", None, {"PATH": "/usr/bin"})["PATH"] == "/usr/bin"


def test_two_models_get_distinct_stable_ports():
    legal, medical = default_ports("legal"), default_ports("medical")
    assert legal == default_ports("legal")
    assert legal[0] != medical[0] and legal[1] != medical[1]
    assert len({*legal, *medical}) == 4


def test_a_busy_default_port_moves_to_the_next_free_one():
    import socket

    port, _ = default_ports("busy-port-test")
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", port))
        busy.listen()
        assert not port_is_free(port)
        resolved = resolve_ports(_config(Path("m"), name="busy-port-test"))
    assert resolved.port != port and port_is_free(resolved.port)
    assert resolved.nccl_port not in (None, resolved.port)


LIGHTLLM_OOM_LOG = """\
INFO 11-22 10:39:01 [mem_utils.py:25] Model kv cache using mode normal
ERROR 11-22 10:39:20 [registry.py:76] Traceback (most recent call last):
ERROR 11-22 10:39:20 [registry.py:76]   File "lightllm/common/mem_manager.py", line 84, in _init_buffers
ERROR 11-22 10:39:20 [registry.py:76]     self.kv_buffer = torch.empty((layer_num, size + 1, 2 * head_num, head_dim))
ERROR 11-22 10:39:20 [registry.py:76] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 686.65 GiB.
ERROR 11-22 10:39:20 [model_rpc.py:102] Traceback (most recent call last):
ERROR 11-22 10:39:20 [model_rpc.py:102]   File "lightllm/server/router/model_infer/model_rpc.py", line 83
INFO 11-22 10:39:21 [graceful_utils.py:15] start_detokenization_process recive sigterm
"""


def test_first_traceback_ends_at_the_exception_without_log_prefixes():
    """The shape of a real LightLLM failed start (H100, KV pool too large)."""
    tail = first_traceback(LIGHTLLM_OOM_LOG)
    assert tail.startswith("Traceback (most recent call last):")
    assert tail.endswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 686.65 GiB.")
    assert "ERROR 11-22" not in tail and "sigterm" not in tail


# ------------------------------------------------------------------ start / stop


def test_failed_start_raises_with_traceback_and_leaves_no_process(fake_lightllm, tmp_path):
    src, model, pids = fake_lightllm("traceback")
    started = time.monotonic()
    with pytest.raises(LightLLMStartFailed) as err:
        launch(_config(model), python=sys.executable, lightllm_dir=src, log_path=tmp_path / "ll.log", timeout=60)
    assert time.monotonic() - started < 20  # fails fast, not at the 60 s timeout
    message = str(err.value)
    assert "Traceback (most recent call last)" in message
    assert "CUDA out of memory" in message
    assert str(tmp_path / "ll.log") in message
    assert not any(_alive(p) for p in _pids(pids))


def test_start_that_exits_raises_with_its_status(fake_lightllm, tmp_path):
    src, model, pids = fake_lightllm("exit")
    with pytest.raises(LightLLMStartFailed, match="exited with status 3"):
        launch(_config(model), python=sys.executable, lightllm_dir=src, log_path=tmp_path / "ll.log", timeout=60)
    assert not any(_alive(p) for p in _pids(pids))


def test_waits_through_503_until_healthy_then_stop_kills_the_group(fake_lightllm, tmp_path):
    src, model, pids = fake_lightllm("ok")
    server = launch(_config(model), python=sys.executable, lightllm_dir=src, log_path=tmp_path / "ll.log", timeout=60)
    try:
        assert server.health() == 200
        assert server.base_url == f"http://127.0.0.1:{server.config.port}/v1"
        assert all(_alive(p) for p in _pids(pids))
    finally:
        server.stop()
    assert not server.running()
    assert not any(_alive(p) for p in _pids(pids))
    log = (tmp_path / "ll.log").read_text()
    assert log.startswith("$ ") and "--model_dir" in log  # the command line heads its log


def test_missing_interpreter_names_the_setting(fake_lightllm, tmp_path):
    src, model, _ = fake_lightllm("ok")
    with pytest.raises(LightLLMStartFailed, match="LEGAL_RAG_LIGHTLLM_PYTHON"):
        launch(_config(model), python="/nonexistent/python", lightllm_dir=src, log_path=tmp_path / "ll.log")


def _cli_env(src: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LEGAL_RAG_LIGHTLLM_PYTHON": sys.executable,
        "LEGAL_RAG_LIGHTLLM_DIR": str(src),
        "LEGAL_RAG_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }


def test_cli_launch_serves_until_sigterm_then_leaves_nothing(fake_lightllm, tmp_path):
    src, model, pids = fake_lightllm("ok")
    env = _cli_env(src, tmp_path)
    cli = subprocess.Popen(
        [sys.executable, "-m", "server", "launch", "--model-dir", str(model), "--name", "clitest"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = cli.stdout.readline()
        assert line.startswith("ready: http://127.0.0.1:"), line + cli.stderr.read()
        assert "LEGAL_RAG_ENDPOINTS" in cli.stdout.readline()
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 0
    finally:
        cli.kill()
        cli.wait()
        leftover = [p for p in _pids(pids) if _alive(p)]
        _kill_fake(pids)
    assert not leftover
    assert (tmp_path / "data" / "logs" / "lightllm-clitest.log").is_file()


def test_cli_sigterm_while_loading_leaves_nothing(fake_lightllm, tmp_path):
    src, model, pids = fake_lightllm("loading")
    cli = subprocess.Popen(
        [sys.executable, "-m", "server", "launch", "--model-dir", str(model), "--name", "loadtest"],
        cwd=ROOT, env=_cli_env(src, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_alive(p) for p in _pids(pids))  # LightLLM is "loading" (503)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 130
    finally:
        cli.kill()
        cli.wait()
        leftover = [p for p in _pids(pids) if _alive(p)]
        _kill_fake(pids)
    assert not leftover


def test_launcher_names_a_vision_model_with_its_image_tag(tmp_path):
    """`launch` prints the endpoint to use: a qwen2_vl model gets kind vision and LightLLM's image tag."""
    from server.lightllm import VISION_IMAGE_TAGS, endpoint_entry, model_type
    from settings import Endpoint

    (tmp_path / "config.json").write_text('{"model_type": "qwen2_vl"}')
    assert model_type(tmp_path) == "qwen2_vl" and model_type(tmp_path / "missing") == ""
    vision = Endpoint(**endpoint_entry("finance", "http://127.0.0.1:8147/v1", 8192, "qwen2_vl")["finance"])
    assert vision.kind == "vision" and vision.image_tag == VISION_IMAGE_TAGS["qwen2_vl"]
    chat = Endpoint(**endpoint_entry("legal", "http://127.0.0.1:8392/v1", 8192, "qwen3")["legal"])
    assert chat.kind == "chat" and chat.image_tag is None and chat.context_tokens == 8192
