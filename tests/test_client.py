"""ChatClient against a loopback fake: every failure a user can meet becomes its typed error."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest

from server.client import ChatClient, Delta, ThinkSplitter, image_message
from server.lightllm import VISION_IMAGE_TAGS
from server.endpoints import client_for, resolve
from server.errors import (
    BadResponse,
    EndpointNotConfigured,
    NotAVisionModel,
    ServerLoading,
    ServerNotRunning,
    ServerTimeout,
    StreamInterrupted,
)
from settings import Endpoint
from tests.fakes import ANSWER, REASONING, FakeOpenAI

QUESTION = [{"role": "user", "content": "加班费怎么算？"}]
THOUGHT = f"<think>\n{REASONING}\n</think>\n\n{ANSWER}"


def client(fake: FakeOpenAI, **kw) -> ChatClient:
    return ChatClient(fake.endpoint, "fake", **kw)


def joined(deltas: list[Delta]) -> tuple[str, str]:
    return ("".join(d.text for d in deltas if d.kind == "answer"),
            "".join(d.text for d in deltas if d.kind == "reasoning"))


# -- think splitting --------------------------------------------------------------------------
@pytest.mark.parametrize("cut", range(len(THOUGHT) + 1))
def test_think_split_at_every_position(cut):
    splitter = ThinkSplitter()
    deltas = splitter.feed(THOUGHT[:cut]) + splitter.feed(THOUGHT[cut:]) + splitter.flush()
    assert joined(deltas) == (ANSWER, REASONING)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_think_split_in_tiny_chunks(size):
    splitter = ThinkSplitter()
    deltas = [d for i in range(0, len(THOUGHT), size) for d in splitter.feed(THOUGHT[i:i + size])]
    assert joined(deltas + splitter.flush()) == (ANSWER, REASONING)


def test_text_without_think_is_all_answer_even_with_a_lone_angle_bracket():
    splitter = ThinkSplitter()
    deltas = splitter.feed("工资 <") + splitter.feed(" 最低工资") + splitter.flush()
    assert joined(deltas) == ("工资 < 最低工资", "")


def test_unfinished_think_prefix_at_end_is_kept_as_text():
    splitter = ThinkSplitter()
    assert joined(splitter.feed("答案<thi") + splitter.flush()) == ("答案<thi", "")


# -- happy paths ------------------------------------------------------------------------------
def test_stream_splits_reasoning_and_answer_and_sends_sampling():
    with FakeOpenAI("ok") as fake:
        result = client(fake).chat(QUESTION, temperature=0.2, top_k=20, repetition_penalty=1.1,
                                   max_tokens=64, seed=7, stop=["\n\n\n"])
        sent = fake.requests[0]
    assert (result.answer, result.reasoning) == (ANSWER, REASONING)
    assert sent["stream"] is True and sent["model"] == "fake"
    assert sent["top_k"] == 20 and sent["repetition_penalty"] == 1.1 and sent["seed"] == 7
    assert sent["repeat_penalty"] == 1.1  # llama.cpp's spelling rides along


def test_reasoning_content_field():
    with FakeOpenAI("reasoning_field") as fake:
        deltas = list(client(fake).stream(QUESTION))
    assert joined(deltas) == (ANSWER, REASONING)
    assert deltas[0].kind == "reasoning"


def test_health_ok():
    with FakeOpenAI("ok") as fake:
        assert client(fake).health() == "ok"


# -- one test per error ------------------------------------------------------------------------
def test_not_configured_lists_known_names():
    with pytest.raises(EndpointNotConfigured, match="known: embedded, legal"):
        resolve("finance", {"embedded": Endpoint(), "legal": Endpoint(base_url="http://x/v1")},
                start_embedded=lambda: pytest.fail("must not start"))
    with pytest.raises(EndpointNotConfigured):
        ChatClient(Endpoint(), "embedded")  # base_url None: must be resolved first


def test_resolve_starts_embedded_on_demand_only():
    started = []
    endpoints = {"embedded": Endpoint(label="cpu"), "gpu": Endpoint(base_url="http://gpu:8000/v1")}
    start = lambda: started.append(1) or Endpoint(base_url="http://127.0.0.1:9/v1", model="m")
    assert resolve("gpu", endpoints, start).base_url == "http://gpu:8000/v1" and not started
    got = resolve("embedded", endpoints, start)
    assert (got.base_url, got.model, got.label, started) == ("http://127.0.0.1:9/v1", "m", "cpu", [1])


def test_client_for_a_name_restarts_only_the_embedded_server():
    """The one builder: the embedded endpoint's client holds its starter (diagnose, restart after a
    death); a configured server's client and a health check's (watch=False) hold none."""
    class Starter:
        def __call__(self) -> Endpoint:
            return Endpoint(base_url="http://127.0.0.1:9/v1", model="m", context_tokens=4096)

    endpoints = {"embedded": Endpoint(), "gpu": Endpoint(base_url="http://gpu:8000/v1", model="g")}
    start = Starter()
    embedded = client_for("embedded", endpoints, start, timeout=7)
    assert (embedded.name, embedded.base_url, embedded.timeout, embedded.lifecycle) == (
        "embedded", "http://127.0.0.1:9/v1", 7, start)
    assert client_for("gpu", endpoints, start, timeout=7).lifecycle is None
    assert client_for("embedded", endpoints, start, timeout=7, watch=False).lifecycle is None
    with pytest.raises(EndpointNotConfigured, match="known: embedded, gpu"):
        client_for("finance", endpoints, start, timeout=7)


def test_refused_connection_is_server_not_running_with_url_and_fix():
    with FakeOpenAI("refuse") as fake:
        with pytest.raises(ServerNotRunning, match=f"127.0.0.1:{fake.port}.*python -m server embedded"):
            client(fake, retries=1).chat(QUESTION)
        with pytest.raises(ServerNotRunning):
            client(fake).health()


def test_loading_is_server_loading():
    with FakeOpenAI("loading") as fake:
        with pytest.raises(ServerLoading, match="still loading"):
            client(fake).chat(QUESTION)
        with pytest.raises(ServerLoading):
            client(fake).health()


def test_slow_is_timeout_and_not_retried():
    with FakeOpenAI("slow", delay=1.5) as fake:
        with pytest.raises(ServerTimeout, match="did not answer within 0.3 s"):
            client(fake, timeout=0.3).chat(QUESTION)
        assert fake.connections == 1


def test_died_mid_stream_keeps_partial_answer():
    with FakeOpenAI("die_mid_stream") as fake:
        received = []
        with pytest.raises(StreamInterrupted) as info:
            for d in client(fake).stream(QUESTION):
                received.append(d)
        assert fake.connections == 1  # text was already shown: no retry
    answer, reasoning = joined(received)
    assert info.value.partial == answer and info.value.reasoning == reasoning
    assert REASONING.startswith(reasoning) and (reasoning == REASONING or not answer)
    assert ANSWER.startswith(answer) and answer != ANSWER


def test_garbage_is_bad_response():
    with FakeOpenAI("garbage") as fake:
        with pytest.raises(BadResponse, match="not an OpenAI chat completion"):
            client(fake).chat(QUESTION)


def test_image_to_chat_endpoint_is_refused_before_sending():
    with FakeOpenAI("ok") as fake:
        with pytest.raises(NotAVisionModel, match="'fake'"):
            client(fake).chat([image_message("这张图说明什么？", b"\x89PNG", "image/png")])
        assert fake.connections == 0


# -- retries ----------------------------------------------------------------------------------
def test_dropped_connections_before_first_token_are_retried():
    with FakeOpenAI("flaky", fail_times=2) as fake:
        assert client(fake, retries=2).chat(QUESTION).answer == ANSWER
        assert fake.connections == 3


def test_retries_are_bounded():
    with FakeOpenAI("flaky", fail_times=5) as fake:
        with pytest.raises(StreamInterrupted, match="before answering"):
            client(fake, retries=1).chat(QUESTION)
        assert fake.connections == 2


# -- images -----------------------------------------------------------------------------------
def test_image_message_arrives_intact_at_a_vision_endpoint():
    image = bytes(range(256)) * 40
    message = image_message("描述这张K线图", image, "image/png")
    assert message["content"][0] == {"type": "text", "text": "描述这张K线图"}
    url = message["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",")[1]) == image
    with FakeOpenAI("vision") as fake:
        answer = ChatClient(fake.endpoint, "finance").chat([message]).answer
        assert fake.images == [image]
    assert answer == f"image bytes={len(image)} sha256={hashlib.sha256(image).hexdigest()}"


def test_endpoint_image_tag_announces_the_image_in_the_text():
    """LightLLM's qwen2_vl places an image only where its tag is in the text (docs/gpu.md §6.4)."""
    tag = VISION_IMAGE_TAGS["qwen2_vl"]
    image = bytes(range(256)) * 4
    system = {"role": "system", "content": "你是金融分析师。"}
    with FakeOpenAI("vision") as fake:
        tagged = fake.endpoint.model_copy(update={"kind": "vision", "image_tag": tag})
        ChatClient(tagged, "finance").chat([system, image_message("描述这张K线图", image, "image/png")])
        ChatClient(fake.endpoint.model_copy(update={"kind": "vision"}), "finance").chat(
            [image_message("描述这张K线图", image, "image/png")])
        with_tag, plain = fake.requests[0]["messages"], fake.requests[1]["messages"]
        assert fake.images == [image, image]  # the image itself is sent either way
    assert with_tag[0] == system
    assert with_tag[1]["content"][0] == {"type": "text", "text": tag + "描述这张K线图"}
    assert with_tag[1]["content"][1]["type"] == "image_url"
    assert plain[0]["content"][0]["text"] == "描述这张K线图"  # no tag unless the endpoint asks for one


def test_as_llamaindex_llm_talks_to_the_same_endpoint():
    from llama_index.core.llms import ChatMessage

    with FakeOpenAI("reasoning_field") as fake:
        llm = client(fake).as_llamaindex_llm()
        reply = llm.chat([ChatMessage(role="user", content="加班费？")])
        assert fake.requests[-1]["model"] == "fake"
    assert ANSWER in reply.message.content


# -- CLI --------------------------------------------------------------------------------------
def test_cli_chat_health_and_errors(monkeypatch, capsys):
    from server.__main__ import main
    from settings import get_settings

    with FakeOpenAI("ok") as fake, FakeOpenAI("refuse") as down:
        monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", json.dumps({
            "fake": fake.endpoint.model_dump(), "down": down.endpoint.model_dump()}))
        get_settings.cache_clear()
        try:
            assert main(["chat", "加班费怎么算？", "--endpoint", "fake"]) == 0
            assert ANSWER in capsys.readouterr().out
            assert main(["health", "--endpoint", "fake"]) == 0
            assert main(["health", "--endpoint", "down"]) == 1
            assert "is not answering" in capsys.readouterr().err
        finally:
            get_settings.cache_clear()


def test_health_of_an_embedded_server_never_started_says_start_it(tmp_path):
    import os
    import subprocess
    import sys

    from settings import ROOT

    env = {**os.environ, "LEGAL_RAG_DATA_DIR": str(tmp_path / "data"), "LEGAL_RAG_ENDPOINTS": '{"embedded": {}}'}
    r = subprocess.run([sys.executable, "-m", "server", "health"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "is not running. Start it with `python -m server embedded`" in r.stderr, r.stderr
