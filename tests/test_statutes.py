"""rag.documents.statutes against the gold segmentation in ../shared/data and the lawrefbook corpus."""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from rag.errors import DocumentError
from rag.documents.load import load_file
from rag.documents.statutes import (
    PARAGRAPH_CHUNK_CHARS,
    article_cn,
    cn_to_int,
    find_article_mentions,
    int_to_cn,
    normalize_law_name,
    parse_article_ref,
    parse_statute,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STATUTES = DATA / "statutes"
GOLD = STATUTES / "labor_statutes_articles.jsonl"
LAWREFBOOK = DATA / "lawrefbook"
MIN_GOLD_MATCH = 0.99
PDF_SOURCE = "labor_contract_law_2012.txt"
PDF_LINE_MM = 7


def squash(text: str) -> str:
    """Whitespace-normalised form: PDF line wraps and spacing do not count."""
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------- numerals

NUMERALS = [
    (1, "一"), (2, "二"), (10, "十"), (11, "十一"), (19, "十九"), (20, "二十"), (21, "二十一"),
    (100, "一百"), (101, "一百零一"), (110, "一百一十"), (111, "一百一十一"), (120, "一百二十"),
    (1000, "一千"), (1001, "一千零一"), (1010, "一千零一十"), (1100, "一千一百"),
    (1254, "一千二百五十四"), (1260, "一千二百六十"), (10000, "一万"), (10010, "一万零一十"),
]


@pytest.mark.parametrize("number,chinese", NUMERALS)
def test_numerals_both_ways(number, chinese):
    assert int_to_cn(number) == chinese
    assert cn_to_int(chinese) == number


@pytest.mark.parametrize("written,number", [
    ("两百", 200), ("二〇", 20), ("二〇一八", 2018), ("一百〇一", 101), ("零", 0), ("四十七", 47), ("47", 47), ("一十", 10),
])
def test_numeral_variants(written, number):
    assert cn_to_int(written) == number


def test_article_cn_with_suffix():
    assert article_cn(10, 1) == "第十条之一"
    assert article_cn(133, 2) == "第一百三十三条之二"
    with pytest.raises(ValueError):
        cn_to_int("第三")


@pytest.mark.parametrize("name,short", [
    ("中华人民共和国劳动法", "劳动法"),
    ("《中华人民共和国劳动合同法》", "劳动合同法"),
    ("中华人民共和国劳动法（2018修正）", "劳动法"),
    ("劳动合同法(2012年修正)", "劳动合同法"),
    (" 工伤保险条例 ", "工伤保险条例"),
    ("最高人民法院关于审理劳动争议案件适用法律问题的解释（一）", "最高人民法院关于审理劳动争议案件适用法律问题的解释（一）"),
])
def test_normalize_law_name(name, short):
    assert normalize_law_name(name) == short


# ---------------------------------------------------------------- the gold segmentation

def test_reproduces_gold_articles():
    gold = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    ours = {}
    for path in sorted(STATUTES.glob("*.txt")):
        for a in parse_statute(path.read_text(encoding="utf-8"), path.name):
            ours[(path.name, a.article_id)] = a
    matched, misses = 0, []
    for row in gold:
        a = ours.get((row["source_file"], row["id"]))
        if (a and squash(a.text) == squash(row["text"]) and a.law_title == row["law_title"]
                and a.law_short == row["law"] and a.article_no == row["article_num"]
                and squash(a.chapter.split(" / ")[-1]) == squash(row["chapter"])):
            matched += 1
        else:
            misses.append(row["id"])
    rate = matched / len(gold)
    print(f"gold match: {matched}/{len(gold)} = {rate:.2%}; parsed {len(ours)} articles; misses {misses[:10]}")
    assert len(gold) == 757
    assert rate >= MIN_GOLD_MATCH, misses[:20]


def test_chapter_path_includes_chapter_and_section():
    text = (STATUTES / "labor_contract_law_2012.txt").read_text(encoding="utf-8")
    by_no = {a.article_no: a for a in parse_statute(text, "labor_contract_law_2012.txt")}
    assert by_no[39].chapter == "第四章 劳动合同的解除和终止"
    assert by_no[57].chapter == "第五章 特别规定 / 第二节 劳务派遣"
    assert by_no[39].text.startswith("劳动者有下列情形之一的，用人单位可以解除劳动合同:\n（一）")


# ---------------------------------------------------------------- structure rules

STATUTE_WITH_TRAPS = """---
title: test
---
# 中华人民共和国示例法（2018修正）

<!-- INFO END -->

目录
第一章 总则
第二章 解除
第三章 附则

## 第一章 总则

**第一条** 为了测试，制定本法。

第二条 用人单位依照本法第三十九条的规定解除劳动合同。
第三十九条规定的情形，不适用本条。

第二条之一 本条是后来增加的。

## 第二章 解除

### 第一节 一般规定

第三条 劳动者有下列情形之一的，用人单位可以解除劳动合同：
（一）在试用期间被证明不符合录用条件的；
（二）严重违反用人单位的规章制度的。
前款规定适用于全部劳动者。

第四条 有下列情形之一的，依照本法第三条的规定执行：
第一条规定的目的除外。

## 第三章 附则

第五条 本法自2008年1月1日起施行。
"""


def test_structure_cross_references_suffix_toc_and_markdown():
    arts = parse_statute(STATUTE_WITH_TRAPS, "示例法.md")
    assert [a.article_cn for a in arts] == ["第一条", "第二条", "第二条之一", "第三条", "第四条", "第五条"]
    assert [(a.article_no, a.article_suffix) for a in arts][1:3] == [(2, 0), (2, 1)]
    first, second, _, third, fourth, fifth = arts
    assert first.law_title == "中华人民共和国示例法（2018修正）" and first.law_short == "示例法"
    assert first.chapter == "第一章 总则" and first.text == "为了测试，制定本法。"
    assert second.text.endswith("第三十九条规定的情形，不适用本条。")  # line-start cross-reference
    assert third.chapter == "第二章 解除 / 第一节 一般规定"
    assert third.text.count("\n") == 3  # 款 and 项 stay with their 条
    assert fourth.text.endswith("第一条规定的目的除外。")
    assert fifth.chapter == "第三章 附则" and fifth.article_id == "示例法第五条"


def test_title_from_quoted_line_and_file_name():
    text = "《职工带薪年休假条例》\n\n第一条 甲。\n\n第二条 乙。\n\n第三条 丙。\n"
    assert parse_statute(text, "x.txt")[0].law_short == "职工带薪年休假条例"
    untitled = "第一条 甲。\n第二条 乙。\n第三条 丙。\n"
    assert parse_statute(untitled, "某某办法.txt")[0].law_title == "某某办法"


def test_non_statute_falls_back_to_paragraph_chunks():
    paragraphs = [f"这是第{int_to_cn(i)}段说明文字，" + "内容" * (40 + i * 7) + "。" for i in range(1, 30)]
    paragraphs.insert(3, "第一条 这一行像条文，但全文只有一处，不是法规。")
    text = "劳动仲裁攻略\n\n" + "\n\n".join(paragraphs)
    chunks = parse_statute(text, "攻略.txt")
    assert len(chunks) > 3
    assert all(c.article_no is None for c in chunks)
    assert [c.article_cn for c in chunks[:3]] == ["段1", "段2", "段3"]
    assert all(len(c.text) <= PARAGRAPH_CHUNK_CHARS for c in chunks)
    assert squash("".join(c.text for c in chunks)) == squash(text)
    assert chunks[1].article_id == "攻略.txt#段2"


def test_long_paragraph_is_cut_to_the_cap():
    chunks = parse_statute("说" * (PARAGRAPH_CHUNK_CHARS * 2 + 5), "长.txt")
    assert [len(c.text) for c in chunks] == [PARAGRAPH_CHUNK_CHARS, PARAGRAPH_CHUNK_CHARS, 5]


# ---------------------------------------------------------------- mentions

@pytest.mark.parametrize("text,expected", [
    ("依据《劳动合同法》第四十七条", [("劳动合同法", 47, 0, "《劳动合同法》第四十七条")]),
    ("《中华人民共和国劳动合同法》第四十七条第一款", [("劳动合同法", 47, 0, "《中华人民共和国劳动合同法》第四十七条第一款")]),
    ("劳动法第44条规定", [("劳动法", 44, 0, "劳动法第44条")]),
    ("按劳动合同法47条", [("劳动合同法", 47, 0, "劳动合同法47条")]),
    ("见第47条", [(None, 47, 0, "第47条")]),
    ("依照本法第四十六条", [(None, 46, 0, "本法第四十六条")]),
    ("违反中华人民共和国劳动法第五十条", [("劳动法", 50, 0, "中华人民共和国劳动法第五十条")]),
    ("刑法第一百三十三条之一", [("刑法", 133, 1, "刑法第一百三十三条之一")]),
    ("《劳动合同法》第三十八条、第三十九条", [("劳动合同法", 38, 0, "《劳动合同法》第三十八条"),
                                          ("劳动合同法", 39, 0, "第三十九条")]),
    ("《劳动法》第一条和《社会保险法》第二条", [("劳动法", 1, 0, "《劳动法》第一条"), ("社会保险法", 2, 0, "《社会保险法》第二条")]),
    ("第四十七条第二款第（一）项", [(None, 47, 0, "第四十七条第二款第（一）项")]),
    ("本法共98条，增加一条", []),
    # a model's 「第八十二条 第一条」 is one citation of 第八十二条 (its 款), not a second one of 第一条
    ("《劳动合同法》第八十二条 第一条规定", [("劳动合同法", 82, 0, "《劳动合同法》第八十二条 第一条")]),
    ("《劳动合同法》第八十二条第一条", [("劳动合同法", 82, 0, "《劳动合同法》第八十二条第一条")]),
    ("《劳动合同法》第四十七条 第一款", [("劳动合同法", 47, 0, "《劳动合同法》第四十七条 第一款")]),
    # a real list stays two citations
    ("《劳动合同法》第三十八条 第四十六条", [("劳动合同法", 38, 0, "《劳动合同法》第三十八条"),
                                         ("劳动合同法", 46, 0, "第四十六条")]),
    ("《劳动合同法》第八十二条、第一条", [("劳动合同法", 82, 0, "《劳动合同法》第八十二条"), ("劳动合同法", 1, 0, "第一条")]),
])
def test_find_article_mentions(text, expected):
    found = find_article_mentions(text)
    assert [(m.law, m.article_no, m.suffix, m.raw) for m in found] == expected
    for m in found:
        assert text[m.span[0]:m.span[1]] == m.raw


def test_parse_article_ref_and_mention_article_cn():
    assert parse_article_ref("《劳动合同法（2012修正）》第三十九条") == [("劳动合同法", 39, 0)]
    assert find_article_mentions("第十条之一")[0].article_cn == "第十条之一"


# ---------------------------------------------------------------- a PDF made here

def _cjk_font_file() -> Path | None:
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=30).stdout
        found = [Path(line.split(":")[0]) for line in out.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        found = []
    found += list(Path("/usr/share/fonts").rglob("*CJK*"))
    regular = [p for p in found if "Regular" in p.name and p.suffix in (".ttc", ".otf", ".ttf")]
    return (regular or found or [None])[0]


def _truetype_subset(font_file: Path, text: str, out: Path) -> Path:
    """Subset a CJK font to `text` with TrueType outlines.

    Noto CJK is CID-keyed CFF; fpdf2 then writes an embedded encoding CMap, which pypdf
    does not read (it takes one byte per character). With TrueType outlines fpdf2 uses
    Identity-H, which every reader understands.
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.subset import Options, Subsetter
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(font_file, fontNumber=2 if font_file.suffix == ".ttc" else -1)  # 2: SC in Noto CJK
    options = Options()
    options.layout_features, options.hinting = [], False
    options.drop_tables += ["VORG", "vhea", "vmtx", "GSUB", "GPOS", "GDEF", "BASE"]
    subsetter = Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    if "CFF " in font:
        order, glyphs = font.getGlyphOrder(), font.getGlyphSet()
        glyf = newTable("glyf")
        glyf.glyphOrder, glyf.glyphs = order, {}
        for name in order:
            pen = TTGlyphPen(None)
            glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
            glyf[name] = pen.glyph()
        font["glyf"], font["loca"] = glyf, newTable("loca")
        del font["CFF "]
        font.sfntVersion = "\0\1\0\0"
        maxp = font["maxp"]
        maxp.tableVersion = 0x00010000
        for field in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                      "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
            setattr(maxp, field, 0)
        maxp.maxZones = 1
        font["head"].glyphDataFormat = 0
        font["post"].formatType = 3.0
    font.save(out)
    return out


def test_pdf_of_a_statute_parses_like_its_text(tmp_path):
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 makes the test PDF")
    font_file = _cjk_font_file()
    if font_file is None:
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    text = (STATUTES / PDF_SOURCE).read_text(encoding="utf-8")
    expected = parse_statute(text, PDF_SOURCE)

    class PagedPDF(fpdf.FPDF):
        def footer(self):  # a printed page number must not end up in an article's text
            self.set_y(-15)
            self.cell(0, 10, f"- {self.page_no()} -", align="C")

    pdf = PagedPDF()
    pdf.add_font("cjk", fname=str(_truetype_subset(font_file, text + "- 0123456789", tmp_path / "cjk.ttf")))
    pdf.set_font("cjk", size=11)
    pdf.add_page()
    placed = {}  # article number → page its heading was written on
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if pdf.will_page_break(PDF_LINE_MM):
            pdf.add_page()
        heading = re.match(r"第(\S+)条 ", paragraph)
        if heading:
            placed[cn_to_int(heading.group(1))] = pdf.page_no()
        pdf.multi_cell(0, PDF_LINE_MM, paragraph, new_x="LMARGIN", new_y="NEXT")

    loaded = load_file(bytes(pdf.output()), "劳动合同法.pdf", max_bytes=20 * 1024 * 1024)
    articles = parse_statute(loaded.text, loaded.file_name, loaded.pages)
    print(f"PDF: {len(loaded.pages)} pages, {len(articles)} articles")
    assert len(loaded.pages) > 5
    assert [a.article_id for a in articles] == [a.article_id for a in expected]
    assert [squash(a.text) for a in articles] == [squash(a.text) for a in expected]
    assert [a.chapter for a in articles] == [a.chapter for a in expected]
    pages = [a.page for a in articles]
    assert pages == sorted(pages) and pages[0] == 1 and pages[-1] == len(loaded.pages)
    assert {a.article_no: a.page for a in articles} == placed


def test_pdf_whose_cjk_font_pypdf_cannot_decode_is_read_by_pdfium():
    """fpdf2 with Noto CJK's own CID-keyed CFF outlines: pypdf read it one byte per char (the
    file was refused as garbled); PDFium's text layer gives the statute's text."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 makes the test PDF")
    font_file = _cjk_font_file()
    if font_file is None or font_file.suffix != ".ttc":
        pytest.skip("needs Noto CJK's .ttc (apt-get install fonts-noto-cjk)")
    text = (STATUTES / PDF_SOURCE).read_text(encoding="utf-8")[:3000]
    pdf = fpdf.FPDF()
    pdf.add_font("cjk", fname=str(font_file), collection_font_number=2)
    pdf.set_font("cjk", size=11)
    pdf.add_page()
    pdf.multi_cell(0, PDF_LINE_MM, text)
    loaded = load_file(bytes(pdf.output()), "劳动合同法.pdf", max_bytes=20 * 1024 * 1024)
    assert squash(text[:200]) in squash(loaded.text)
    articles = parse_statute(loaded.text, loaded.file_name, loaded.pages)
    assert [a.article_no for a in articles][:3] == [1, 2, 3]


# ---------------------------------------------------------------- the scale corpus

def test_lawrefbook_corpus_parses():
    files = sorted(LAWREFBOOK.rglob("*.md"))
    started = time.perf_counter()
    articles = chunks = 0
    for path in files:
        parsed = parse_statute(path.read_text(encoding="utf-8"), path.name)
        articles += sum(a.article_no is not None for a in parsed)
        chunks += sum(a.article_no is None for a in parsed)
    elapsed = time.perf_counter() - started
    print(f"lawrefbook: {len(files)} files, {articles} articles, {chunks} paragraph chunks, {elapsed:.1f} s")
    assert len(files) == 1584
    assert 60_000 <= articles <= 70_000


def test_civil_code_books_cover_articles_1_to_1260():
    numbers = []
    for path in sorted((LAWREFBOOK / "民法典").glob("*.md")):
        numbers += [a.article_no for a in parse_statute(path.read_text(encoding="utf-8"), path.name)
                    if a.article_no is not None and a.law_short == "民法典"]
    assert sorted(numbers) == list(range(1, 1261))
