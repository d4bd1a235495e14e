"""Documents people have (issue 12): scanned PDFs (real OCR), DOCX, other encodings, and the hostile
inputs found in review, each refused with a message that names the file, or read correctly.

Scans are made here from known text (text → image → PDF); nothing comes from ../shared/data.
"""
from __future__ import annotations

import io
import os
import random
import re
import time
import zipfile

import pytest

from rag.ingest import ingest_file
from rag.errors import DocumentError
from rag.documents.load import DocumentLimits, load_file, location_label, read_document, read_path
from rag.documents.ocr import recognise
from rag.documents.statutes import parse_statute
from tests.scans import docx_bytes, page_image, scanned_pdf, text_pdf_with_scans

MB = 1 << 20
LIMITS = DocumentLimits(max_bytes=20 * MB, max_ocr_pages=10, max_articles=3000)
TITLE = "中华人民共和国劳动合同法"
ARTICLES = [
    "第一条 为了完善劳动合同制度，明确劳动合同双方当事人的权利和义务，保护劳动者的合法权益，构建和发展和谐稳定的劳动关系，制定本法。",
    "第二条 中华人民共和国境内的企业、个体经济组织、民办非企业单位等组织与劳动者建立劳动关系，适用本法。",
    "第三条 订立劳动合同，应当遵循合法、公平、平等自愿、协商一致、诚实信用的原则。",
    "第四条 用人单位应当依法建立和完善劳动规章制度，保障劳动者享有劳动权利、履行劳动义务。",
]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("(", "（").replace(")", "）")


def rejected(data: bytes, name: str, limits: DocumentLimits = LIMITS, parse: bool = False) -> str:
    with pytest.raises(DocumentError) as info:
        (read_document if parse else load_file)(data, name, limits)
    message = str(info.value)
    assert f"「{name}」" in message and " / " in message, message  # names the file; Chinese + English
    return message


# ---------------------------------------------------------------- OCR

def test_recognise_reads_an_image_in_reading_order():
    image = page_image("\n".join(ARTICLES[:2]), size=(1240, 400))
    text = recognise(image)
    lines = text.split("\n")
    assert lines[0].startswith("第一条") and any(ln.startswith("第二条") for ln in lines[1:])
    assert squash(ARTICLES[0][4:30]) in squash(text)
    png = io.BytesIO()
    image.save(png, format="PNG")
    assert recognise(png.getvalue()) == text  # bytes work like a PIL image


def test_recognise_returns_empty_for_a_blank_image():
    assert recognise(page_image("", size=(400, 200))) == ""


def test_scanned_pdf_is_ocrd_with_page_numbers_and_parsed():
    data = scanned_pdf([TITLE + "\n" + "\n".join(ARTICLES[:2]), "\n".join(ARTICLES[2:])])
    seen = []
    parsed = read_document(data, "劳动合同法扫描件.pdf", LIMITS, progress=lambda f, msg: seen.append((f, msg)))
    loaded = parsed.loaded
    assert loaded.ocr_pages == [1, 2] and [p.page for p in loaded.pages] == [1, 2]
    assert [(a.article_no, a.page) for a in parsed.articles] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert parsed.articles[0].law_short == "劳动合同法"
    assert squash(ARTICLES[2][4:]) in squash(parsed.articles[2].text)
    assert seen[-1][0] == 1.0 and any("第 2 页" in msg for _, msg in seen)  # progress, page by page


def test_mixed_pdf_is_ocrd_only_where_a_page_has_no_text():
    data = text_pdf_with_scans([(TITLE + "\n" + ARTICLES[0], False), (ARTICLES[1], True), (ARTICLES[2], False)])
    loaded = load_file(data, "混合.pdf", LIMITS)
    assert loaded.ocr_pages == [2]
    assert squash(ARTICLES[1][4:]) in squash(loaded.pages[1].text)
    assert squash(ARTICLES[2]) in squash(loaded.pages[2].text)  # the text layer, not OCR


def test_ocr_lines_wrapped_by_the_page_width_are_joined():
    from rag.documents.pdf import unwrap_lines

    ocr = ("高温作业劳动保护办法\n（2020年1月1日施行）\n第四条用人单位安排劳动者在高温天气下露天作业的，应当发放高\n"
           "温津贴，每月不低于三百元。\n第五条本办法自发布之日起施行。")
    assert unwrap_lines(ocr).split("\n") == [
        "高温作业劳动保护办法", "（2020年1月1日施行）",  # short lines: not wrapped
        "第四条用人单位安排劳动者在高温天气下露天作业的，应当发放高温津贴，每月不低于三百元。",
        "第五条本办法自发布之日起施行。"]


def test_scan_where_ocr_finds_no_text_is_refused():
    message = rejected(scanned_pdf([page_image("", size=(600, 800))]), "空扫描.pdf")
    assert "OCR" in message and "没有识别出任何文字" in message


def test_300_page_scan_over_the_ocr_limit_is_refused_before_any_ocr():
    data = scanned_pdf([page_image("第一条 页", size=(400, 300))] * 300)
    started = time.perf_counter()
    message = rejected(data, "三百页.pdf", DocumentLimits(max_bytes=20 * MB, max_ocr_pages=50))
    assert "300 页是扫描件" in message and "50 页" in message
    assert time.perf_counter() - started < 30  # no page was recognised


def test_ocr_is_cancelled_through_the_progress_callback():
    data = scanned_pdf([page_image(f"第{n}条 劳动", size=(500, 200)) for n in "一二三四"])

    class Cancelled(Exception):
        pass

    calls = []

    def cancel_on_second_page(fraction, message):
        calls.append(message)
        if len(calls) == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        load_file(data, "取消.pdf", LIMITS, progress=cancel_on_second_page)
    assert len(calls) == 2  # stopped between pages, not after all of them


def test_pdf_with_a_damaged_page_names_the_page():
    """512 damaged bytes inside page 3's content stream: refused, saying which page."""
    chars, rnd = sorted(set("".join(ARTICLES))), random.Random(1)
    pages = [f"{a}\n" + "".join(rnd.choice(chars) for _ in range(600)) for a in ARTICLES]  # streams of ~2 KB
    data = text_pdf_with_scans([(text, False) for text in pages])
    from pypdf import PdfReader

    contents = PdfReader(io.BytesIO(data)).pages[2].get("/Contents")
    assert len(contents.get_object()._data) > 700  # the damage stays inside page 3's stream
    start = re.search(rb"\n%d 0 obj" % contents.indirect_reference.idnum, data).end() + 100
    damaged = data[:start] + random.Random(0).randbytes(512) + data[start + 512:]
    message = rejected(damaged, "损坏10条.pdf")
    assert "第 3 页无法解析" in message and "共 4 页" in message


# ---------------------------------------------------------------- DOCX

def test_docx_paragraphs_and_tables_in_order_with_paragraph_numbers():
    data = docx_bytes([TITLE, ARTICLES[0], ARTICLES[1], "", ARTICLES[2]],
                      table=[["项目", "标准"], ["加班费", "150%"]], table_after=2)
    parsed = read_document(data, "劳动合同法.docx", LIMITS)
    loaded = parsed.loaded
    assert loaded.encoding == "docx" and loaded.unit == "paragraph"
    assert [p.page for p in loaded.pages] == [1, 2, 3, 4, 5]  # title, art.1, table, art.2, art.3 (empty skipped)
    assert loaded.pages[2].text == "项目 | 标准\n加班费 | 150%"
    assert [(a.article_no, a.page) for a in parsed.articles] == [(1, 2), (2, 4), (3, 5)]
    assert "加班费 | 150%" in parsed.articles[0].text  # a table belongs to the article above it
    assert location_label("劳动合同法.docx", 4) == "第 4 段" and location_label("x.pdf", 4) == "第 4 页"


def test_broken_docx_is_refused():
    good = docx_bytes([TITLE, *ARTICLES])
    assert "损坏" in rejected(good[: len(good) // 2], "截断.docx")
    inside = io.BytesIO()
    with zipfile.ZipFile(inside, "w") as z:  # a ZIP, but not a Word document
        z.writestr("word/document.xml", "<not-xml")
    assert "Word" in rejected(inside.getvalue(), "坏.docx")


def test_old_binary_doc_named_docx_is_refused():
    assert ".doc" in rejected(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000), "旧版.docx")


def test_docx_with_only_images_is_refused():
    message = rejected(docx_bytes([], pictures=2), "只有图片.docx")
    assert "只有图片（2 张）" in message and "PDF" in message


def test_docx_zip_bomb_is_refused_before_inflating():
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"0" * (30 * MB))
    assert "解压后超过" in rejected(bomb.getvalue(), "炸弹.docx", DocumentLimits(max_bytes=1 * MB))


# ---------------------------------------------------------------- encodings

TRADITIONAL = "中華人民共和國勞動法\n第一條 為了保護勞動者的合法權益，調整勞動關係，建立和維護適應社會主義市場經濟的勞動制度，制定本法。\n" \
              "第二條 在中華人民共和國境內的企業、個體經濟組織和與之形成勞動關係的勞動者，適用本法。\n" \
              "第三條 勞動者享有平等就業和選擇職業的權利、取得勞動報酬的權利。\n"
JAPANESE = "労働基準法\n第一条 労働条件は、労働者が人たるに値する生活を営むための必要を充たすべきものでなければならない。\n" \
           "第二条 労働条件は、労働者と使用者が、対等の立場において決定すべきものである。\n"


def test_big5_is_decoded_and_parsed():
    parsed = read_document(TRADITIONAL.encode("big5"), "勞動法.txt", LIMITS)
    assert parsed.loaded.encoding == "big5" and parsed.loaded.text == TRADITIONAL
    assert [a.article_cn for a in parsed.articles] == ["第一条", "第二条", "第三条"]


def test_shift_jis_is_decoded_not_stored_as_gb18030():
    loaded = load_file(JAPANESE.encode("shift_jis"), "労働基準法.txt", LIMITS)
    assert (loaded.encoding, loaded.text) == ("shift_jis", JAPANESE)


def test_utf16_without_bom_and_without_ascii_is_decoded():
    text = "".join(a[4:] for a in ARTICLES)  # only CJK: no NUL high bytes to spot
    loaded = load_file(text.encode("utf-16-le"), "无BOM.txt", LIMITS)
    assert (loaded.encoding, loaded.text) == ("utf-16", text)


def test_gbk_stays_gb18030_even_when_short():
    assert load_file("劳动合同".encode("gbk"), "短.txt", LIMITS).encoding == "gb18030"


def test_mixed_encodings_are_refused_as_undecodable():
    data = ("\n".join(ARTICLES[:2])).encode("utf-8") + "\n".join(ARTICLES[2:]).encode("gbk")
    message = rejected(data, "混合编码.txt")
    assert "编码无法识别" in message and "UTF-8" in message


# ---------------------------------------------------------------- statutes that would index wrongly

def test_duplicate_article_number_is_refused():
    text = "\n".join([TITLE, ARTICLES[0], ARTICLES[1], ARTICLES[1].replace("中华", "另一段"), ARTICLES[2]])
    message = rejected(text.encode(), "重复.txt", parse=True)
    assert "第二条连续出现两次" in message and "第 3 行和第 4 行" in message


def test_unclosed_front_matter_is_refused_and_never_the_title():
    text = "---\ntitle: 劳动合同法\n" + "\n".join(ARTICLES)
    assert "---" in rejected(text.encode(), "前言.md", parse=True)
    assert parse_statute(text, "劳动合同法.md")[0].law_title != "---"  # lenient parse


def test_a_heading_without_text_is_refused():
    assert "只有条文编号（第一条）" in rejected("第一条".encode(), "劳动法.txt", parse=True)


def test_ten_megabytes_without_line_breaks_is_refused_quickly():
    data = ("劳动者" * (10 * MB // 9)).encode()
    started = time.perf_counter()
    message = rejected(data, "无换行.txt", DocumentLimits(max_bytes=20 * MB), parse=True)
    assert "超过每个文件 3000 条的上限" in message and "没有换行" in message
    assert time.perf_counter() - started < 60  # before any embedding


# ---------------------------------------------------------------- paths (the CLI reads these)

def test_read_path_refuses_directories_fifos_devices_missing_and_big_files(tmp_path):
    with pytest.raises(DocumentError, match="是文件夹"):
        read_path(tmp_path, MB)
    fifo = tmp_path / "管道.txt"
    os.mkfifo(fifo)
    with pytest.raises(DocumentError, match="FIFO"):
        read_path(fifo, MB)  # returns at once: nothing is opened
    with pytest.raises(DocumentError, match="设备文件"):
        read_path("/dev/zero", MB)
    with pytest.raises(DocumentError, match="不存在"):
        read_path(tmp_path / "没有.txt", MB)
    big = tmp_path / "200MB.txt"
    with big.open("wb") as f:
        f.truncate(200 * MB)  # sparse: costs no disk, and must cost no memory either
    with pytest.raises(DocumentError, match="200.0 MB，超过上限 1 MB"):
        read_path(big, MB)
    small = tmp_path / "法.txt"
    small.write_bytes(b"abc")
    assert read_path(small, MB) == b"abc"


# ---------------------------------------------------------------- into a real knowledge base

def test_kb_records_ocr_pages_and_a_cancel_from_progress_changes_nothing(tmp_path, embedder):
    from rag.kb import KnowledgeBases

    kb = KnowledgeBases(tmp_path / "kbs", embedder).create("扫描")
    scan = scanned_pdf([page_image(TITLE + "\n" + "\n".join(ARTICLES[:3]), size=(1240, 600))])
    fractions = []
    result = ingest_file(kb, scan, "扫描件.pdf", LIMITS, progress=lambda f, msg: fractions.append(f))
    assert (result.n_articles, result.ocr_pages) == (3, [1])
    assert kb.ocr_pages() == {result.doc_id: [1]}
    assert fractions == sorted(fractions) and max(fractions) <= 1.0  # OCR, then embedding: never backwards
    assert [(a.article_no, a.page) for a in kb.articles] == [(1, 1), (2, 1), (3, 1)]
    assert ingest_file(kb, scan, "again.pdf", LIMITS).ocr_pages == [1]  # unchanged: still says so

    class Cancelled(Exception):  # what Streamlit raises inside st calls when 取消 is clicked
        pass

    def cancel(fraction, message):
        if "向量化" in message:
            raise Cancelled

    before = (len(kb.documents()), len(kb.articles), kb.meta())
    docx = docx_bytes([TITLE, *ARTICLES])
    with pytest.raises(Cancelled):
        ingest_file(kb, docx, "劳动合同法.docx", LIMITS, progress=cancel)
    assert (len(kb.documents()), len(kb.articles), kb.meta()) == before
    reopened = KnowledgeBases(tmp_path / "kbs", embedder).open("扫描")  # on disk too
    assert (len(reopened.documents()), len(reopened.articles)) == before[:2]

    added = ingest_file(kb, docx, "劳动合同法.docx", LIMITS)  # not cancelled: goes in, paragraphs as locations
    assert added.n_articles == 4 and not added.ocr_pages
    located = {a.article_no: a.page for a in kb.articles if a.file_name == "劳动合同法.docx"}
    assert located == {1: 2, 2: 3, 3: 4, 4: 5}
