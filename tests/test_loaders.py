"""rag.documents.load: every bad upload gets a message that names the file; good text decodes the same."""
from __future__ import annotations

import hashlib
import io
import random

import pytest

from rag.errors import DocumentError
from rag.documents.load import load_file

MB = 1024 * 1024
LIMIT = 5 * MB
SAMPLE = "中华人民共和国劳动合同法\r\n\r\n第一条 为了完善劳动合同制度，保护劳动者的合法权益，制定本法。\n第二条 “用人单位”(employer) 与劳动者——适用本法。\n"
GB18030_ONLY = "生僻字：㐀䶵𠀀𪚥，欧元符号€。"  # CJK Ext A/B: not in GBK
EXPECTED_TEXT = SAMPLE.replace("\r\n", "\n")


def _fpdf_pdf(pages: list[str]) -> bytes:
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 makes the test PDFs")
    pdf = fpdf.FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _encrypted(data: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(data)).pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _rejected(data: bytes, name: str, max_bytes: int = LIMIT) -> str:
    with pytest.raises(DocumentError) as info:
        load_file(data, name, max_bytes)
    message = str(info.value)
    assert f"「{name}」" in message and " / " in message  # names the file, Chinese + English
    return message


# ---------------------------------------------------------------- bad inputs

def test_encrypted_pdf():
    data = _encrypted(_fpdf_pdf(["Article 1. Secret text."]), user_password="secret")
    message = _rejected(data, "加密.pdf")
    assert "密码" in message and "encrypted" in message


def test_scanned_pdf_with_only_an_image():
    fpdf = pytest.importorskip("fpdf")
    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(image, format="PNG")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(image.getvalue()), x=10, y=10, w=100)
    message = _rejected(bytes(pdf.output()), "劳动法.pdf")
    assert "扫描件" in message and "OCR" in message and "TXT" in message


def test_pdf_of_blank_pages_counts_as_scanned():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    assert "OCR" in _rejected(out.getvalue(), "空白.pdf")


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n" + random.Random(1).randbytes(3000),
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    b"this is not a pdf at all",
])
def test_corrupt_pdf(data):
    message = _rejected(data, "损坏.pdf")
    assert "损坏" in message and "corrupt" in message


@pytest.mark.parametrize("name", ["空.txt", "空.pdf", "空.md"])
def test_empty_file(name):
    assert "空文件" in _rejected(b"", name)


def test_whitespace_only_text_is_empty():
    assert "empty" in _rejected(" \r\n\t\n".encode(), "空白.txt")


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(2).randbytes(2000),
    random.Random(3).randbytes(4000).replace(b"\x00", b""),  # no NUL: caught by the readable-text check
    bytes(range(256)) * 20,  # NULs on both sides of each byte pair: not UTF-16
])
def test_binary_content_named_txt(data):
    message = _rejected(data, "图片.txt")
    assert "二进制" in message and "binary" in message


@pytest.mark.parametrize("name", ["合同.doc", "表格.xlsx", "无后缀"])
def test_unsupported_type(name):
    message = _rejected(b"PK\x03\x04 whatever", name)
    assert all(suffix in message for suffix in (".pdf", ".docx", ".txt", ".md"))


@pytest.mark.parametrize("name", ["大文件.txt", "大文件.pdf"])
def test_over_the_size_limit(name):
    message = _rejected(b"a" * (LIMIT + 1), name)
    assert "5 MB" in message


# ---------------------------------------------------------------- good inputs

@pytest.mark.parametrize("raw,label", [
    (SAMPLE.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + SAMPLE.encode("utf-8"), "utf-8"),
    (SAMPLE.encode("gbk"), "gb18030"),
    (SAMPLE.encode("gb18030"), "gb18030"),
    (b"\xff\xfe" + SAMPLE.encode("utf-16-le"), "utf-16"),
    (b"\xfe\xff" + SAMPLE.encode("utf-16-be"), "utf-16"),
    (SAMPLE.encode("utf-16-le"), "utf-16"),
    (SAMPLE.encode("utf-16-be"), "utf-16"),
], ids=["utf-8", "utf-8-bom", "gbk", "gb18030", "utf-16-le-bom", "utf-16-be-bom", "utf-16-le", "utf-16-be"])
def test_text_encodings_decode_to_the_same_text(raw, label):
    loaded = load_file(raw, "劳动合同法.txt", LIMIT)
    assert loaded.text == EXPECTED_TEXT
    assert loaded.encoding == label
    assert [p.page for p in loaded.pages] == [None]
    assert loaded.content_hash == hashlib.sha256(raw).hexdigest()


def test_gb18030_only_characters():
    with pytest.raises(UnicodeEncodeError):
        GB18030_ONLY.encode("gbk")
    loaded = load_file(GB18030_ONLY.encode("gb18030"), "生僻字.md", LIMIT)
    assert (loaded.text, loaded.encoding) == (GB18030_ONLY, "gb18030")


def test_pdf_pages_are_numbered_from_one():
    data = _fpdf_pdf(["Article 1. First page.", "Article 2. Second page.", "Article 3. Third page."])
    loaded = load_file(data, "uploads/law.pdf", LIMIT)
    assert loaded.file_name == "law.pdf" and loaded.encoding == "pdf"
    assert [p.page for p in loaded.pages] == [1, 2, 3]
    assert [p.text.strip() for p in loaded.pages] == [
        "Article 1. First page.", "Article 2. Second page.", "Article 3. Third page."]


def test_pdf_with_only_an_owner_password_opens():
    data = _encrypted(_fpdf_pdf(["Article 1. Printing is restricted."]), user_password="")
    assert "Printing is restricted" in load_file(data, "restricted.pdf", LIMIT).text
