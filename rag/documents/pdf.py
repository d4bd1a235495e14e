"""PDF bytes → pages of text: the text layer where there is one, OCR where a page is a scan.

pypdfium2 (PDFium, Chrome's PDF engine) reads the text layer: it decodes the CID-keyed CJK
fonts that pypdf reads one byte per character. pypdf is kept as the structure check: it
refuses encrypted files and decodes every page's content stream, so that a page whose
stream is damaged is named instead of silently dropping its articles. Pages with no text
but with drawn objects (a scanned image) are OCR'd (rag.documents.ocr), at most `max_ocr_pages`.

Does not: repair damaged files (they are refused, naming the pages), OCR pages that have
a text layer (a scan with a bad hidden text layer keeps it), or read forms/annotations.
"""
from __future__ import annotations

import io
import logging
import re
from typing import Callable

from rag.errors import DocumentError, PartialDocumentError
from rag.types import Page

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
WRAPPED_LINE_SHARE = 0.8  # an OCR line this long (vs the page's longest) was wrapped by the page width
SENTENCE_ENDS = ("。", "；", "：", "！", "？", ";", ":", "!", "?")
_HEADING_START = re.compile(r"^第[零〇一二两三四五六七八九十百千万\d]+[条條章节節编編]")
Progress = Callable[[float, str], None]

MSG_ENCRYPTED = ("「{name}」是加密（有密码保护）的 PDF，无法读取。请先去除密码再上传。"
                 " / encrypted PDF: remove the password and upload it again")
MSG_CORRUPT = ("「{name}」已损坏或不是有效的 PDF，无法打开（{detail}）。请重新导出或下载该文件。"
               " / corrupt or invalid PDF ({detail_en}): export or download it again")
_NO_HEADER = ("文件开头没有 %PDF- 标记", "no %PDF- header")
_NO_PAGES = ("没有任何页面", "no pages")
_UNPARSABLE = ("文件结构无法解析", "its structure cannot be parsed")
MSG_DAMAGED_PAGES = ("「{name}」已损坏：第 {pages} 页无法解析（共 {total} 页）。为避免知识库缺少这些页的条文，"
                     "未添加该文件。请重新导出或下载完整的文件；如只需要可读的部分，可在页面上勾选「文件不完整时保留可读部分」"
                     "或用 python -m rag ingest --keep-partial 导入，该文档会标记为不完整。"
                     " / damaged PDF: page(s) {pages} of {total} cannot be parsed; nothing was added:"
                     " export or download the file again, or keep the readable pages with --keep-partial")
MSG_PAGE_COUNT = ("「{name}」已损坏：页面结构不一致（两种读法分别读出 {declared} 页和 {read} 页），可能有页面丢失。"
                  "未添加该文件。请重新导出或下载完整的文件。"
                  " / damaged PDF: its page structure reads as {declared} or {read} pages, so pages may be lost;"
                  " nothing was added: export or download the file again")
MSG_GARBLED = ("「{name}」的文字层无法正确解码（字体编码不受支持）。请用其他软件重新导出 PDF，或另存为 TXT 上传。"
               " / the PDF's text layer decodes to garbage (unsupported font encoding):"
               " re-export the PDF with another tool or upload it as TXT")
MSG_TOO_MANY_SCANNED = ("「{name}」有 {n} 页是扫描件（无文字层），超过一次识别（OCR）的上限 {limit} 页"
                        "（每页约需数秒）。请拆分文件后分批上传，或上传文字版 PDF / TXT。"
                        " / {n} scanned pages need OCR, over the limit of {limit} pages per file:"
                        " split the file or upload a text version")
MSG_BLANK = ("「{name}」的 {total} 页都是空白的：没有文字，也没有可识别（OCR）的图片。请检查文件是否导出完整。"
             " / every page is blank: no text and no image to OCR")
MSG_OCR_NO_TEXT = ("「{name}」是扫描件，但文字识别（OCR）没有识别出任何文字（图片可能太模糊、太小或是空白页）。"
                   "请上传更清晰的扫描件（建议 300 dpi）、文字版 PDF 或 TXT。"
                   " / scanned PDF: OCR found no text (image too blurred, too small or blank):"
                   " upload a sharper scan, a text PDF or TXT")


def read_pdf(data: bytes, name: str, max_ocr_pages: int, progress: Progress | None = None,
             looks_binary: Callable[[str], bool] = lambda text: False,
             keep_partial: bool = False) -> tuple[list[Page], list[int], list[int]]:
    """(pages numbered from 1, numbers of the pages whose text came from OCR, damaged pages).

    Damaged pages (a content stream that does not decode, a page PDFium cannot load, garbled
    text) are refused, naming them; with keep_partial their text is left out and they are
    returned, so that the caller can keep the rest marked as partial."""
    if data.lstrip()[:len(PDF_MAGIC)] != PDF_MAGIC:
        raise _corrupt(name, _NO_HEADER)
    declared, damaged = _check_structure(data, name)
    texts, drawn, unloadable = _text_layer(data, name)
    damaged = sorted(set(damaged) | set(unloadable))
    if len(texts) != declared:
        raise DocumentError(MSG_PAGE_COUNT.format(name=name, declared=declared, read=len(texts)))
    garbled = [n for n, t in enumerate(texts, 1) if t.strip() and looks_binary(t)]
    if garbled and len(garbled) == sum(bool(t.strip()) for t in texts) and not damaged:
        # pypdf-era behaviour kept for fonts PDFium cannot map either: refuse, do not index noise
        raise DocumentError(MSG_GARBLED.format(name=name))
    lost = sorted(set(damaged) | set(garbled))
    if lost and not keep_partial:
        raise PartialDocumentError(MSG_DAMAGED_PAGES.format(name=name, pages=page_ranges(lost), total=declared))
    for number in lost:
        texts[number - 1], drawn[number - 1] = "", 0  # neither text nor a scan to OCR
    scanned = [n for n, (t, objects) in enumerate(zip(texts, drawn), 1) if not t.strip() and objects]
    if len(scanned) > max_ocr_pages:
        raise DocumentError(MSG_TOO_MANY_SCANNED.format(name=name, n=len(scanned), limit=max_ocr_pages))
    if scanned:
        from rag.documents.ocr import ocr_pdf_pages

        for number, text in ocr_pdf_pages(data, scanned, progress, name).items():
            texts[number - 1] = unwrap_lines(text)
        if not any(texts[n - 1].strip() for n in scanned) and not any(t.strip() for t in texts):
            raise DocumentError(MSG_OCR_NO_TEXT.format(name=name))
    if not any(t.strip() for t in texts):
        raise DocumentError(MSG_BLANK.format(name=name, total=declared))
    pages = [Page(text=t.replace("\r\n", "\n").replace("\r", "\n"), page=n) for n, t in enumerate(texts, 1)]
    return pages, scanned, lost


def unwrap_lines(text: str) -> str:
    """Join OCR lines that a page's width wrapped: a full-width line (at least
    WRAPPED_LINE_SHARE of the page's longest) not ending a sentence continues on the next one,
    unless that one starts an article or a 章/节 heading. Chinese has no spaces to restore, and
    a word split over two lines (高 / 温津贴) would not be found by keyword search."""
    lines = [ln.strip() for ln in text.split("\n")]
    longest = max((len(ln) for ln in lines), default=0)
    out: list[str] = []
    for line in lines:
        previous = out[-1] if out else ""
        if (previous and line and len(previous) >= WRAPPED_LINE_SHARE * longest
                and not previous.endswith(SENTENCE_ENDS) and not _HEADING_START.match(line)):
            out[-1] = previous + line
        else:
            out.append(line)
    return "\n".join(out)


def _corrupt(name: str, detail: tuple[str, str]) -> DocumentError:
    return DocumentError(MSG_CORRUPT.format(name=name, detail=detail[0], detail_en=detail[1]))


def _check_structure(data: bytes, name: str) -> tuple[int, list[int]]:
    """(page count in the page tree, pages whose content stream fails to decode); refuses
    encrypted and unreadable files."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise DocumentError(MSG_ENCRYPTED.format(name=name))
        pages = list(reader.pages)
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            AssertionError, OSError, RecursionError) as exc:
        # pypdf reports damage through many exception types; all mean "cannot read".
        log.info("pypdf could not read %s: %r", name, exc)
        raise _corrupt(name, _UNPARSABLE) from exc
    if not pages:
        raise _corrupt(name, _NO_PAGES)
    damaged = [n for n, page in enumerate(pages, 1) if _stream_error(page)]
    return len(pages), damaged


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _stream_error(page) -> str | None:
    """Why this page's content cannot be decoded, or None. pypdf logs (not raises) a broken
    compressed stream, so its warnings are collected while the streams are decoded."""
    from pypdf.generic import ArrayObject

    handler, pypdf_log = _Warnings(), logging.getLogger("pypdf")
    pypdf_log.addHandler(handler)
    try:
        contents = page.get("/Contents")
        contents = contents.get_object() if contents is not None else None
        streams = [s.get_object() for s in contents] if isinstance(contents, ArrayObject) else \
            [contents] if contents is not None else []
        for stream in streams:
            stream.get_data()
    except Exception as exc:  # noqa: BLE001  (any failure to decode is damage of this page)
        return f"{type(exc).__name__}: {exc}"
    finally:
        pypdf_log.removeHandler(handler)
    bad = [m for m in handler.messages if "decompress" in m.lower() or "stream" in m.lower()]
    return bad[0] if bad else None


def _text_layer(data: bytes, name: str) -> tuple[list[str], list[int], list[int]]:
    """Per page: PDFium's text and its number of drawn objects (0: a blank page); and the
    pages PDFium cannot load at all."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise _corrupt(name, _UNPARSABLE) from exc
    texts, drawn, unloadable = [], [], []
    try:
        for index in range(len(pdf)):
            try:
                page = pdf[index]
            except pdfium.PdfiumError as exc:
                log.info("PDFium cannot load page %d of %s: %s", index + 1, name, exc)
                texts.append("")
                drawn.append(0)
                unloadable.append(index + 1)
                continue
            textpage = page.get_textpage()
            texts.append(textpage.get_text_bounded())
            drawn.append(pdfium_c.FPDFPage_CountObjects(page.raw))
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return texts, drawn, unloadable


def _opens_without_password(reader) -> bool:
    """PDFs with only an owner password (print/copy restrictions) open with ''."""
    try:
        return bool(reader.decrypt(""))
    except Exception as exc:  # noqa: BLE001  (missing crypto backend, unknown algorithm)
        log.info("decrypting with an empty password failed: %r", exc)
        return False


def page_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] → 1–3、7"""
    out, start = [], None
    for i, n in enumerate(numbers):
        start = n if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(f"{start}–{n}" if n != start else str(n))
            start = None
    return "、".join(out)

