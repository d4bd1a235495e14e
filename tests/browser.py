"""Harness for tests that run the real app: a prepared data dir, the app as a subprocess, Chromium.

The data dir is a temp folder holding a small knowledge base built once per test session
from ../shared/data/statutes (the default 劳动法规 build reads ≈800 articles from the
statute database: minutes on a loaded 2-core machine), and a link to the real models dir so
the converted e5 model and the GGUFs are reused, never converted or assembled again.

Does not: start LLM servers (tests pass endpoints in: tests/fakes.py or conftest's
embedded_endpoint), or install Chromium (Debian's /usr/bin/chromium is used).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from rag.ingest import ingest_file
from rag.kb import KnowledgeBases
from settings import ROOT, Endpoint, get_settings

STATUTES = ROOT.parent / "shared" / "data" / "statutes"
TEST_KB = "测试法规"  # the app's default KB in these tests (LEGAL_RAG_DEFAULT_KB)
TEST_KB_FILES = ("labor_contract_law_2012.txt",)  # 98 articles of 《劳动合同法》
MAX_BYTES = 50 << 20
REAL_MODELS_DIR = get_settings().models_dir  # read before any test points the data dir elsewhere
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
APP_START_TIMEOUT_S = 120.0
_TEMPLATES: dict[str, Path] = {}


def template_kbs(tmp_path_factory, embedder) -> Path:
    """A kbs/ folder with TEST_KB, built once per session; copy it, never write to it."""
    if "kbs" not in _TEMPLATES:
        from knowledge.builder import law_status

        root = tmp_path_factory.mktemp("template-kbs")
        kb = KnowledgeBases(root, embedder, law_info=law_status).create(TEST_KB, "tests")
        for name in TEST_KB_FILES:
            ingest_file(kb, (STATUTES / name).read_bytes(), name, MAX_BYTES, source="tests")
        _TEMPLATES["kbs"] = root
    return _TEMPLATES["kbs"]


def prepare_data_dir(data_dir: Path, kbs: Path) -> Path:
    """data_dir with a fresh copy of the template KBs and the real models dir linked in."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(kbs, data_dir / "kbs")
    (data_dir / "models").symlink_to(REAL_MODELS_DIR, target_is_directory=True)
    return data_dir


@contextmanager
def app_data_dir(monkeypatch, data_dir: Path, embedder) -> Iterator[Path]:
    """AppTests on `data_dir`, with the session's loaded embedder and fresh Streamlit caches."""
    import streamlit as st

    monkeypatch.setenv("LEGAL_RAG_DATA_DIR", str(data_dir))
    monkeypatch.setattr("rag.defaults.embedder_from", lambda settings: embedder)
    st.cache_resource.clear()
    get_settings.cache_clear()
    yield data_dir
    st.cache_resource.clear()
    get_settings.cache_clear()


def endpoints_json(**endpoints: Endpoint) -> str:
    """The LEGAL_RAG_ENDPOINTS value for name=Endpoint pairs."""
    return json.dumps({name: e.model_dump(exclude_none=True) for name, e in endpoints.items()})


def app_env(data_dir: Path, **endpoints: Endpoint) -> dict[str, str]:
    """Environment for the app: the prepared data dir, TEST_KB as default KB, these endpoints."""
    return {"LEGAL_RAG_DATA_DIR": str(data_dir), "LEGAL_RAG_DEFAULT_KB": TEST_KB,
            "LEGAL_RAG_ENDPOINTS": endpoints_json(**endpoints)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(env: dict[str, str], log: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port; yields its URL; stops its process group."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://localhost:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        _stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + APP_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit not healthy after {APP_START_TIMEOUT_S:.0f} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextmanager
def chromium(playwright, width: int = 1400, height: int = 1000):
    """A page in Debian's Chromium, headless; closed at the end."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        page = browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN")
        page.set_default_timeout(60_000)
        yield page
    finally:
        browser.close()
