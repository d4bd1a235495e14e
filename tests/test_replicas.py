"""An endpoint with several replicas: requests spread over the healthy ones, fail over before
the first token, and a replica that dies mid-stream ends the answer with the partial text.

Two real embedded llama.cpp servers (the 0.5B model, answers of a few tokens) for spreading,
failover and a death mid-stream; the loopback fake for faults a real server won't show.
"""
from __future__ import annotations

import json
import os
import signal

import pytest

from server import embedded
from server.client import ChatClient
from server.errors import ServerNotRunning, StreamInterrupted
from server.replicas import Replicas
from settings import Endpoint, get_settings
from tests.conftest import EMBEDDED_TEST_MODEL
from tests.fakes import ANSWER, FakeOpenAI

QUESTION = [{"role": "user", "content": "加班费怎么算？"}]


def replicas_of(*urls: str, **kw) -> Endpoint:
    return Endpoint(base_urls=list(urls), model="fake", **kw)


# -- settings -----------------------------------------------------------------------------------
def test_base_url_alone_still_works_and_replicas_are_validated():
    assert Endpoint(base_url="http://a:1/v1").replica_urls == ["http://a:1/v1"]
    both = Endpoint(base_url="http://a:1/v1", base_urls=["http://b:2/v1/"])
    assert both.replica_urls == ["http://a:1/v1", "http://b:2/v1"] and both.base_url == "http://a:1/v1"
    assert Endpoint(base_urls=["http://b:2/v1"]).base_url == "http://b:2/v1"  # resolve() needs one
    with pytest.raises(ValueError, match="must start with http"):
        Endpoint(base_urls=["gpu1:8000/v1"])
    with pytest.raises(ValueError, match="twice"):
        Endpoint(base_urls=["http://b:2/v1", "http://b:2/v1/"])


# -- turn order -------------------------------------------------------------------------------
def test_round_robin_and_least_recently_failed_first():
    now = [0.0]
    r = Replicas(["a", "b", "c"], cooldown_s=10, clock=lambda: now[0])
    assert [r.rotation()[0] for _ in range(4)] == ["a", "b", "c", "a"]
    r.failed("a", cooldown=True)
    now[0] = 1.0
    r.failed("b", cooldown=True)
    assert r.rank(["a", "b", "c"]) == ["c", "a", "b"]  # cooling ones last, a failed first
    now[0] = 10.5  # a's cooldown is over, b's is not
    assert r.rank(["a", "b", "c"]) == ["a", "c", "b"]
    r.succeeded("b")
    assert r.rank(["b", "c", "a"]) == ["b", "c", "a"] and r.cooling() == []


# -- faults from the fake server --------------------------------------------------------------
def test_requests_are_spread_over_healthy_replicas():
    with FakeOpenAI("ok") as a, FakeOpenAI("ok") as b:
        client = ChatClient(replicas_of(a.endpoint.base_url, b.endpoint.base_url), "legal")
        assert all(client.chat(QUESTION).answer == ANSWER for _ in range(4))
        assert (a.connections, b.connections) == (2, 2)


def test_loading_replica_is_skipped_and_sits_out_its_cooldown():
    with FakeOpenAI("loading") as loading, FakeOpenAI("ok") as ok:
        client = ChatClient(replicas_of(loading.endpoint.base_url, ok.endpoint.base_url), "legal")
        assert [client.chat(QUESTION).answer for _ in range(3)] == [ANSWER] * 3
        assert loading.connections == 1 and ok.connections == 3
        assert client.replicas.cooling() == [loading.endpoint.base_url]
        assert client.health().startswith("ok (1 of 2 replicas ready")


def test_garbage_replica_fails_over_and_refused_everywhere_is_server_not_running():
    with FakeOpenAI("garbage") as garbage, FakeOpenAI("ok") as ok:
        client = ChatClient(replicas_of(garbage.endpoint.base_url, ok.endpoint.base_url), "legal")
        assert client.chat(QUESTION).answer == ANSWER and garbage.connections == 1
    with FakeOpenAI("refuse") as a, FakeOpenAI("refuse") as b:
        client = ChatClient(replicas_of(a.endpoint.base_url, b.endpoint.base_url), "legal", retries=0)
        with pytest.raises(ServerNotRunning, match="is not answering"):
            client.chat(QUESTION)


def test_death_mid_stream_is_not_failed_over():
    with FakeOpenAI("die_mid_stream") as dying, FakeOpenAI("ok") as ok:
        client = ChatClient(replicas_of(dying.endpoint.base_url, ok.endpoint.base_url), "legal")
        received = []
        with pytest.raises(StreamInterrupted, match="stopped after") as info:
            for d in client.stream(QUESTION):
                received.append(d)
        assert ok.connections == 0  # text was shown: a second answer would repeat it
    assert info.value.partial == "".join(d.text for d in received if d.kind == "answer")


def test_max_tokens_is_always_sent():
    with FakeOpenAI("ok") as fake:
        ChatClient(fake.endpoint, "fake").chat(QUESTION)
        ChatClient(fake.endpoint.model_copy(update={"max_tokens": 77}), "fake").chat(QUESTION)
        ChatClient(fake.endpoint, "fake").chat(QUESTION, max_tokens=12)
        assert [r["max_tokens"] for r in fake.requests] == [Endpoint().max_tokens, 77, 12]


# -- two real llama.cpp servers ----------------------------------------------------------------
@pytest.fixture(scope="module")
def second_embedded(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("embedded-replica")
    endpoint = embedded.ensure_running(EMBEDDED_TEST_MODEL, get_settings().models_dir, state_dir,
                                       threads=1, ctx=1024)
    yield endpoint, state_dir
    embedded.stop(state_dir)


def _pid(state_dir) -> int:
    (state,) = state_dir.glob("embedded-*.json")
    return json.loads(state.read_text())["pid"]


def _posts(state_dir) -> int:
    (log,) = state_dir.glob("embedded-*.log")
    return log.read_text(errors="replace").count("POST /v1/chat/completions")


@pytest.mark.slow
def test_two_real_servers_share_the_load_then_one_dies(embedded_endpoint, embedded_state_dir,
                                                       second_embedded):
    second, second_dir = second_embedded
    client = ChatClient(replicas_of(embedded_endpoint.base_url, second.base_url,
                                    max_tokens=4), "legal", timeout=60)
    before = (_posts(embedded_state_dir), _posts(second_dir))
    assert client.chat(QUESTION, temperature=0, seed=1).answer  # first replica's turn
    assert client.chat(QUESTION, temperature=0, seed=1).answer  # second replica's turn
    assert (_posts(embedded_state_dir) - before[0], _posts(second_dir) - before[1]) == (1, 1)

    # The second replica crashes while answering: the reader keeps what arrived and learns why.
    client = ChatClient(replicas_of(second.base_url, embedded_endpoint.base_url, max_tokens=4),
                        "legal", timeout=60)  # a new client starts its turns at the first URL
    client.replicas.cooldown_s = 600  # however slow this machine is, the dead one stays benched
    received = []
    with pytest.raises(StreamInterrupted, match=f"{second.base_url} stopped after") as info:
        for d in client.stream([{"role": "user", "content": "请详细介绍中国劳动法的历史。"}],
                               max_tokens=400, temperature=0, seed=1):
            received.append(d)
            if len(received) == 2:
                os.killpg(_pid(second_dir), signal.SIGKILL)
    assert info.value.partial == "".join(d.text for d in received if d.kind == "answer")
    embedded.stop(second_dir)  # forgets the dead server

    # Requests fail over to the live replica before their first token, whichever turn it is.
    assert all(client.chat(QUESTION, temperature=0, seed=1).answer for _ in range(2))
    assert client.replicas.cooling() == [second.base_url]
