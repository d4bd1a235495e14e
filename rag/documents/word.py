"""DOCX bytes → one Page per paragraph (or table), numbered in document order.

python-docx reads the body: paragraphs in order and tables as text (one line per row, cells
joined with " | "). Each non-empty paragraph or table gets the next number, so a citation
can say "第 12 段" where a PDF's would say "第 12 页" (the number is kept in Page.page).

Does not: read headers, footers, footnotes, comments, text boxes or tracked changes, or
OCR pictures (a DOCX of scanned pictures is refused with the advice to convert it to PDF,
which is OCR'd). Old binary .doc files are not DOCX and are refused as such.
"""
from __future__ import annotations

import io
import zipfile
import zlib

from rag.errors import DocumentError
from rag.types import Page

MAX_UNZIPPED_RATIO = 20  # a DOCX that expands to more than this × the upload limit is a zip bomb
# python-docx holds the whole body XML as an lxml tree, ~20× its size in memory (a 901 MB body of
# small paragraphs passed 6 GB): the XML and its paragraphs are bounded before it parses anything.
# 民法典 as DOCX: ~3 MB of XML, ~1,300 paragraphs.
MAX_XML_BYTES = 64 << 20  # uncompressed XML parts (pictures are not counted here)
DEFAULT_MAX_PARAGRAPHS = 50_000
_PARAGRAPH_TAGS = (b"<w:p>", b"<w:p ")
_READ_CHUNK = 1 << 20
DOCX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .doc (and encrypted .docx)

MSG_CORRUPT = ("「{name}」已损坏或不是有效的 Word（.docx）文档，无法打开（{detail}）。请用 Word 重新保存为 .docx，"
               "或另存为 PDF / TXT 后上传。 / corrupt or invalid DOCX ({detail_en}): save it again from Word,"
               " or as PDF/TXT")
# What went wrong, in words (never a Python exception name): by exception class name.
_DAMAGE = {
    "BadZipFile": ("ZIP 压缩结构损坏，文件可能不完整", "broken ZIP structure, the file may be truncated"),
    "KeyError": ("缺少 Word 正文部分", "the Word body part is missing"),
    "XMLSyntaxError": ("正文的 XML 不完整或有语法错误", "the body XML is broken"),
    "PackageNotFoundError": ("不是 Word 文档包", "not a Word package"),
}
_NOT_WORD = ("内容结构不符合 Word 格式", "its content is not laid out as Word's")
_NOT_ZIP = ("不是 ZIP 容器", "not a ZIP container")
MSG_OLD_DOC = ("「{name}」是旧版 Word（.doc）或加密的文档，不是 .docx。请用 Word 另存为 .docx、PDF 或 TXT 后上传。"
               " / an old binary .doc or an encrypted document, not DOCX: save it as .docx, PDF or TXT")
MSG_ONLY_IMAGES = ("「{name}」中只有图片（{n} 张），没有文字。请用 Word 另存为 PDF 后上传，扫描的页面会自动识别文字（OCR）。"
                   " / the DOCX holds only pictures ({n}), no text: save it as PDF and upload that (scans are OCR'd)")
MSG_XML_TOO_BIG = ("「{name}」的正文解压后有 {size} MB 的 XML，超过 {limit} MB 的上限（正常的法规文档只有几 MB）。"
                   "请拆分文档，或另存为 TXT / PDF 后上传。 / the DOCX body expands to {size} MB of XML, over the"
                   " {limit} MB limit: split it, or save it as TXT/PDF")
MSG_TOO_MANY_PARAGRAPHS = ("「{name}」有超过 {limit} 个段落，超过每个文件的上限。请拆分文档后分批上传。"
                           " / more than {limit} paragraphs, over the limit per file: split the document")
MSG_ZIP_BOMB = ("「{name}」解压后超过 {limit} MB，不像正常的 Word 文档。请检查文件来源。"
                " / the DOCX expands to more than {limit} MB: not a normal document")


def read_docx(data: bytes, name: str, max_bytes: int, max_paragraphs: int = DEFAULT_MAX_PARAGRAPHS) -> list[Page]:
    """Pages numbered by paragraph; raises DocumentError for broken or picture-only files, and
    for bodies over MAX_XML_BYTES or max_paragraphs (checked before python-docx parses)."""
    if data.startswith(OLE_MAGIC):
        raise DocumentError(MSG_OLD_DOC.format(name=name))
    if not data.startswith(DOCX_MAGIC):
        raise _corrupt(name, _NOT_ZIP)
    pictures = _check_unzipped_size(data, name, max_bytes * MAX_UNZIPPED_RATIO, max_paragraphs)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
        pages: list[Page] = []
        for block in blocks:
            if isinstance(block, Table):
                text = "\n".join(" | ".join(_unique_cells(row)) for row in block.rows)
            else:
                text = block.text
            if text.strip():
                pages.append(Page(text=text.replace("\r", "\n"), page=len(pages) + 1))
        pictures = max(pictures, len(document.inline_shapes))  # one picture file may be shown twice
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001  (zip, XML and package errors all mean: cannot read)
        raise _corrupt(name, _DAMAGE.get(type(exc).__name__, _NOT_WORD)) from exc
    if not pages and pictures:
        raise DocumentError(MSG_ONLY_IMAGES.format(name=name, n=pictures))
    return pages


def _corrupt(name: str, detail: tuple[str, str]) -> DocumentError:
    return DocumentError(MSG_CORRUPT.format(name=name, detail=detail[0], detail_en=detail[1]))


def _unique_cells(row) -> list[str]:
    """Cell texts of a row; a merged cell appears once, not once per grid column."""
    out, seen = [], set()
    for cell in row.cells:
        if id(cell._tc) in seen:
            continue
        seen.add(id(cell._tc))
        out.append(cell.text.strip().replace("\n", " "))
    return out


def _check_unzipped_size(data: bytes, name: str, limit: int, max_paragraphs: int = DEFAULT_MAX_PARAGRAPHS) -> int:
    """Refuse a zip bomb before python-docx inflates it (sizes from the ZIP directory: zipfile
    never inflates a member past its declared size), and a body over MAX_XML_BYTES or with more
    than max_paragraphs paragraphs (counted while streaming it, in 1 MB pieces); return the
    number of pictures."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            total = sum(info.file_size for info in infos)
            if total > limit:
                raise DocumentError(MSG_ZIP_BOMB.format(name=name, limit=limit >> 20))
            xml = sum(info.file_size for info in infos if info.filename.endswith((".xml", ".rels")))
            if xml > MAX_XML_BYTES:
                raise DocumentError(MSG_XML_TOO_BIG.format(name=name, size=xml >> 20, limit=MAX_XML_BYTES >> 20))
            if "word/document.xml" in archive.namelist() and \
                    _count_paragraphs(archive, "word/document.xml", max_paragraphs) > max_paragraphs:
                raise DocumentError(MSG_TOO_MANY_PARAGRAPHS.format(name=name, limit=max_paragraphs))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        raise _corrupt(name, _DAMAGE["BadZipFile"]) from exc
    return sum(info.filename.startswith("word/media/") for info in infos)


def _count_paragraphs(archive: zipfile.ZipFile, member: str, stop_after: int) -> int:
    """<w:p> elements in a member, read in pieces; stops counting once over stop_after."""
    count, tail = 0, b""
    with archive.open(member) as stream:
        while count <= stop_after:
            chunk = stream.read(_READ_CHUNK)
            if not chunk:
                break
            piece = tail + chunk
            count += sum(piece.count(tag) for tag in _PARAGRAPH_TAGS)
            tail = piece[-4:]  # a tag cut between two pieces is counted in the next (5-byte tags)
    return count
