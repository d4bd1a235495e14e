"""Uploaded bytes + file name → LoadedDocument (decoded text, per page or paragraph) → articles.

PDFs: rag.documents.pdf (text layer by page, OCR for scanned pages, damaged pages named). DOCX:
rag.documents.word (one Page per paragraph/table, numbered). TXT/MD: rag.documents.encodings (UTF-8, UTF-16,
GB18030 first for Chinese; Big5, Shift-JIS detected). Every rejection raises DocumentError
with a bilingual message that names the file and what to do.

`read_document` adds the statute parse and the per-file limits (OCR pages, articles), so
that a hostile file fails before any embedding; `read_path` reads a path for the CLI with
the size and file-type checks first. Does not: read HTML/XLSX/.doc, or split several laws
in one file (rag.documents.statutes).
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Callable

from rag.documents.encodings import decode_text, looks_binary
from rag.errors import DocumentError
from rag.documents.statutes import parse_statute
from rag.types import Article, LoadedFile, Page

PDF_SUFFIXES = (".pdf",)
DOCX_SUFFIXES = (".docx",)
TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = PDF_SUFFIXES + DOCX_SUFFIXES + TEXT_SUFFIXES
BYTES_PER_MB = 1024 * 1024

# Defaults of the per-file limits; the edges pass settings' values (DocumentLimits.from_settings).
DEFAULT_MAX_OCR_PAGES = 30  # 10–60 s a page on 2 shared cores (bench/ocr.py): minutes, not hours
DEFAULT_MAX_ARTICLES = 3000  # 民法典 has 1,260 articles; embedding 3,000 takes minutes on 2 cores

MSG_UNSUPPORTED = ("「{name}」的格式不受支持，请上传 {zh_list} 文件（其他格式请先另存为 PDF、DOCX 或 TXT）。"
                   " / unsupported file type '{suffix}'; supported: {en_list}")
MSG_EMPTY = "「{name}」是空文件，没有任何文字。请检查文件后重新上传。 / the file is empty"
MSG_TOO_BIG = ("「{name}」大小为 {size:.1f} MB，超过上限 {limit:.0f} MB。请拆分文件或只上传需要的部分。"
               " / file is {size:.1f} MB, over the {limit:.0f} MB limit: split it or upload the relevant part")
MSG_TOO_MANY_ARTICLES = ("「{name}」切分出 {n} 条法条/段落，超过每个文件 {limit} 条的上限{why}。"
                         "请拆分文件，或检查文件是否为法规文本。"
                         " / {n} articles or chunks, over the limit of {limit} per file{why_en}: split the file")
MSG_NOT_A_FILE = ("「{name}」不是普通文件（{kind}），无法读取。请选择文件本身。"
                  " / not a regular file ({kind_en}): give the path of a file")
MSG_MISSING = "「{name}」不存在：请检查路径。 / no such file: check the path"
MSG_UNREADABLE = "「{name}」无法读取（{reason}）。请检查文件权限。 / cannot read the file ({reason})"

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DocumentLimits:
    """Per-file bounds that keep one upload from holding the machine for long."""

    max_bytes: int = 50 * BYTES_PER_MB
    max_ocr_pages: int = DEFAULT_MAX_OCR_PAGES
    max_articles: int = DEFAULT_MAX_ARTICLES

    @classmethod
    def from_settings(cls, settings) -> "DocumentLimits":
        return cls(settings.max_upload_mb * BYTES_PER_MB, settings.ocr_max_pages, settings.max_articles_per_file)


@dataclass
class LoadedDocument(LoadedFile):
    """A LoadedFile that also says where its text came from."""

    ocr_pages: list[int] = field(default_factory=list)  # PDF pages whose text is OCR'd
    unit: str = "page"  # what Page.page counts: "page" (PDF) or "paragraph" (DOCX)


@dataclass
class ParsedDocument:
    loaded: LoadedDocument
    articles: list[Article]


def as_limits(limits: int | DocumentLimits) -> DocumentLimits:
    """Callers that only know a byte limit (older code, tests) pass an int."""
    return limits if isinstance(limits, DocumentLimits) else DocumentLimits(max_bytes=int(limits))


def location_label(file_name: str, number: int | None) -> str:
    """"第 3 页" for a PDF page, "第 12 段" for a DOCX paragraph, "" when unknown."""
    if not number:
        return ""
    return f"第 {number} 段" if PurePath(file_name).suffix.lower() in DOCX_SUFFIXES else f"第 {number} 页"


def ocr_note(pages: list[int]) -> str:
    """What the upload UIs say about OCR'd pages: "第 1–3、5 页为扫描件，已 OCR 识别"; "" for none."""
    from rag.documents.pdf import page_ranges

    return f"第 {page_ranges(pages)} 页为扫描件，已 OCR 识别" if pages else ""


def load_file(data: bytes, file_name: str, max_bytes: int | DocumentLimits,
              progress: Progress | None = None) -> LoadedDocument:
    """Decode an upload; raise DocumentError with a message for the user when it can't.

    `progress(fraction, message)` is called between OCR pages; an exception it raises (a
    cancel) propagates unchanged."""
    limits = as_limits(max_bytes)
    name = PurePath(file_name).name or file_name
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(MSG_UNSUPPORTED.format(
            name=name, suffix=suffix or "(none)",
            zh_list="、".join(SUPPORTED_SUFFIXES), en_list=" ".join(SUPPORTED_SUFFIXES)))
    if not data:
        raise DocumentError(MSG_EMPTY.format(name=name))
    if len(data) > limits.max_bytes:
        raise DocumentError(MSG_TOO_BIG.format(
            name=name, size=len(data) / BYTES_PER_MB, limit=limits.max_bytes / BYTES_PER_MB))
    ocr_pages: list[int] = []
    unit = "page"
    if suffix in PDF_SUFFIXES:
        from rag.documents.pdf import read_pdf

        pages, ocr_pages = read_pdf(data, name, limits.max_ocr_pages, progress, looks_binary=looks_binary)
        encoding = "pdf"
    elif suffix in DOCX_SUFFIXES:
        from rag.documents.word import read_docx

        pages, encoding, unit = read_docx(data, name, limits.max_bytes), "docx", "paragraph"
    else:
        text, encoding = decode_text(data, name)
        pages = [Page(text=text)]
    if not any(p.text.strip() for p in pages):
        raise DocumentError(MSG_EMPTY.format(name=name))
    return LoadedDocument(file_name=name, pages=pages, encoding=encoding,
                          content_hash=hashlib.sha256(data).hexdigest(), ocr_pages=ocr_pages, unit=unit)


def read_document(data: bytes, file_name: str, limits: int | DocumentLimits,
                  progress: Progress | None = None) -> ParsedDocument:
    """load_file, then the statute parse, refusing files that would take too long to index."""
    limits = as_limits(limits)
    loaded = load_file(data, file_name, limits, progress)
    articles = parse_statute(loaded.text, loaded.file_name, loaded.pages, strict=True)
    if len(articles) > limits.max_articles:
        longest = max(len(line) for p in loaded.pages for line in p.text.split("\n"))
        no_breaks = longest > limits.max_articles  # e.g. megabytes on one line
        raise DocumentError(MSG_TOO_MANY_ARTICLES.format(
            name=loaded.file_name, n=len(articles), limit=limits.max_articles,
            why=f"（最长一行有 {longest} 个字符，文件可能没有换行）" if no_breaks else "",
            why_en=f" (its longest line has {longest} characters: no line breaks?)" if no_breaks else ""))
    return ParsedDocument(loaded, articles)


def read_path(path: str | Path, max_bytes: int) -> bytes:
    """A file's bytes for the CLI: missing paths, directories, FIFOs and devices are refused
    before anything is read, and reading stops at max_bytes + 1 (the size check then refuses)."""
    path = Path(path)
    name = path.name or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DocumentError(MSG_MISSING.format(name=str(path))) from None
    except OSError as exc:
        raise DocumentError(MSG_UNREADABLE.format(name=str(path), reason=exc.strerror or type(exc).__name__)) from None
    if not stat.S_ISREG(info.st_mode):
        kind, kind_en = _file_kind(info.st_mode)
        raise DocumentError(MSG_NOT_A_FILE.format(name=str(path), kind=kind, kind_en=kind_en))
    if info.st_size > max_bytes:
        raise DocumentError(MSG_TOO_BIG.format(
            name=name, size=info.st_size / BYTES_PER_MB, limit=max_bytes / BYTES_PER_MB))
    try:
        # O_NONBLOCK: a path swapped for a FIFO after the stat must not hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                kind, kind_en = _file_kind(os.fstat(f.fileno()).st_mode)
                raise DocumentError(MSG_NOT_A_FILE.format(name=str(path), kind=kind, kind_en=kind_en))
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentError(MSG_UNREADABLE.format(name=str(path), reason=exc.strerror or type(exc).__name__)) from None
    if len(data) > max_bytes:  # it grew after the stat
        raise DocumentError(MSG_TOO_BIG.format(
            name=name, size=len(data) / BYTES_PER_MB, limit=max_bytes / BYTES_PER_MB))
    return data


def _file_kind(mode: int) -> tuple[str, str]:
    if stat.S_ISDIR(mode):
        return "是文件夹；导入文件夹请用 python -m rag ingest 文件夹 --kb 知识库", "a directory"
    if stat.S_ISFIFO(mode):
        return "是命名管道 FIFO", "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "是设备文件", "a device"
    if stat.S_ISSOCK(mode):
        return "是套接字", "a socket"
    return "不是普通文件", "not a regular file"
