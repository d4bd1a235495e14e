"""Uploaded bytes + file name → LoadedDocument (decoded text, per page or paragraph) → articles.

PDFs: rag.documents.pdf (text layer by page, OCR for scanned pages, damaged pages named). DOCX:
rag.documents.word (one Page per paragraph/table, numbered). TXT/MD: rag.documents.encodings (UTF-8, UTF-16,
GB18030 first for Chinese; Big5, Shift-JIS detected). Every rejection raises DocumentError
with a bilingual message that names the file and what to do.

`read_document` adds the statute parse, the plausibility check (rag.documents.encodings.
not_chinese), the per-file limits (OCR pages, articles, article length) and the gap check
(damaged PDF pages, article numbers that jump: refused unless keep_partial), so that a
hostile file fails before any embedding; `read_path` reads a path for the CLI with the size
and file-type checks first, and says what an OSError on it means. Does not: read
HTML/XLSX/.doc, or split several laws in one file (refused by rag.documents.statutes).
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Callable

from rag.documents.encodings import decode_text, looks_binary, not_chinese
from rag.errors import DocumentError, PartialDocumentError
from rag.documents.statutes import parse_statute
from rag.documents.word import DEFAULT_MAX_PARAGRAPHS
from rag.types import Article, LoadedFile, Page

PDF_SUFFIXES = (".pdf",)
DOCX_SUFFIXES = (".docx",)
TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = PDF_SUFFIXES + DOCX_SUFFIXES + TEXT_SUFFIXES
BYTES_PER_MB = 1024 * 1024

# Defaults of the per-file limits; the edges pass settings' values (DocumentLimits.from_settings).
DEFAULT_MAX_OCR_PAGES = 30  # 10–60 s a page on 2 shared cores (bench/ocr.py): minutes, not hours
DEFAULT_MAX_ARTICLES = 3000  # 民法典 has 1,260 articles; embedding 3,000 takes minutes on 2 cores
# The longest of the 65,995 articles of the test corpus is 3,846 characters; a longer one is text
# that lost its line breaks or headings, and embedding megabytes as one article takes gigabytes.
DEFAULT_MAX_ARTICLE_CHARS = 20_000

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
MSG_NO_PERMISSION = ("「{name}」没有读取权限。请用 chmod 或以有权限的用户运行。"
                     " / permission denied: make the file readable (chmod) or run as a user who may read it")
MSG_NAME_TOO_LONG = ("「{short}」的文件名或路径过长（{n} 个字符，{n_bytes} 字节；系统上限每段 255 字节），无法打开。"
                     "请把文件改成较短的名字后再导入。 / file name too long ({n} characters, {n_bytes} bytes;"
                     " the limit is 255 bytes a name): rename the file")
MSG_SYMLINK_LOOP = ("「{name}」是循环的符号链接（链接最终指向自己），没有可读取的文件。请指定链接指向的真实文件。"
                    " / a symbolic link loop: give the path of the real file")

MSG_ARTICLES_MISSING = ("「{name}」缺少条文：{missing}。可能是文件损坏、文字层丢失或原文不全；为避免知识库缺少这些条文，"
                        "未添加该文件。请重新导出或下载完整的文件；如只需要可读的部分，可在页面上勾选「文件不完整时保留可读部分」"
                        "或用 python -m rag ingest --keep-partial 导入，该文档会标记为不完整。"
                        " / articles are missing ({missing_en}); nothing was added: get a complete file, or add the"
                        " readable part with --keep-partial (marked as partial in the KB)")
MAX_GAPS_SHOWN = 5
MSG_ARTICLE_TOO_LONG = ("「{name}」的{article}有 {n} 个字符，超过每条 {limit} 字的上限（最长的真实条文不到 4000 字）："
                        "可能是换行或条文编号丢失，多条被并成了一条。请检查文件后重新上传。"
                        " / {article} has {n} characters, over the limit of {limit} per article: lost line breaks"
                        " or headings? Check the file")
MSG_NOT_CHINESE = ("「{name}」{why}（按 {encoding} 读取）。本助手只索引中文法规，未添加该文件。如果原文是中文，"
                   "可能是文字编码识别错了：请用文本编辑器另存为 UTF-8 后重新上传。"
                   " / {why_en} (read as {encoding}); only Chinese statutes are indexed, nothing was added:"
                   " if the text is Chinese, save it as UTF-8 and upload it again")

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DocumentLimits:
    """Per-file bounds that keep one upload from holding the machine for long."""

    max_bytes: int = 50 * BYTES_PER_MB
    max_ocr_pages: int = DEFAULT_MAX_OCR_PAGES
    max_articles: int = DEFAULT_MAX_ARTICLES
    max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS
    max_paragraphs: int = DEFAULT_MAX_PARAGRAPHS  # DOCX

    @classmethod
    def from_settings(cls, settings) -> "DocumentLimits":
        return cls(settings.max_upload_mb * BYTES_PER_MB, settings.ocr_max_pages, settings.max_articles_per_file)


@dataclass
class LoadedDocument(LoadedFile):
    """A LoadedFile that also says where its text came from."""

    ocr_pages: list[int] = field(default_factory=list)  # PDF pages whose text is OCR'd
    unit: str = "page"  # what Page.page counts: "page" (PDF) or "paragraph" (DOCX)
    damaged_pages: list[int] = field(default_factory=list)  # left out (only with keep_partial)


@dataclass
class ParsedDocument:
    loaded: LoadedDocument
    articles: list[Article]
    missing: str = ""  # what is known to be lost (kept with keep_partial): "第 3 页无法解析；缺第八十二至八十六条"


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
              progress: Progress | None = None, keep_partial: bool = False) -> LoadedDocument:
    """Decode an upload; raise DocumentError with a message for the user when it can't.

    `progress(fraction, message)` is called between OCR pages; an exception it raises (a
    cancel) propagates unchanged. keep_partial: a PDF's damaged pages are left out (listed in
    `damaged_pages`) instead of refusing the file."""
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
    damaged: list[int] = []
    unit = "page"
    if suffix in PDF_SUFFIXES:
        from rag.documents.pdf import read_pdf

        pages, ocr_pages, damaged = read_pdf(data, name, limits.max_ocr_pages, progress, looks_binary=looks_binary,
                                             keep_partial=keep_partial)
        encoding = "pdf"
    elif suffix in DOCX_SUFFIXES:
        from rag.documents.word import read_docx

        pages, encoding, unit = read_docx(data, name, limits.max_bytes, limits.max_paragraphs), "docx", "paragraph"
    else:
        text, encoding = decode_text(data, name)
        pages = [Page(text=text)]
    if not any(p.text.strip() for p in pages):
        raise DocumentError(MSG_EMPTY.format(name=name))
    return LoadedDocument(file_name=name, pages=pages, encoding=encoding,
                          content_hash=hashlib.sha256(data).hexdigest(), ocr_pages=ocr_pages, unit=unit,
                          damaged_pages=damaged)


def read_document(data: bytes, file_name: str, limits: int | DocumentLimits,
                  progress: Progress | None = None, keep_partial: bool = False) -> ParsedDocument:
    """load_file, then the statute parse, refusing files that would take too long to index
    and files that lost text: damaged PDF pages, article numbers that jump (第八十一条 →
    第八十七条). keep_partial keeps the readable part and says what is missing (`missing`)."""
    limits = as_limits(limits)
    loaded = load_file(data, file_name, limits, progress, keep_partial)
    articles = parse_statute(loaded.text, loaded.file_name, loaded.pages, strict=True)
    implausible = not_chinese(loaded.text, articles[0].law_title if articles else "")
    if implausible and loaded.encoding in ("shift_jis", "euc-jp"):  # kanji without kana: Japanese all the same
        implausible = "这是日文文本，不是中文", "Japanese text, not Chinese"
    if implausible:
        raise DocumentError(MSG_NOT_CHINESE.format(name=loaded.file_name, why=implausible[0], why_en=implausible[1],
                                                   encoding=loaded.encoding))
    longest = max(articles, key=lambda a: len(a.text), default=None)
    if longest is not None and len(longest.text) > limits.max_article_chars:
        raise DocumentError(MSG_ARTICLE_TOO_LONG.format(
            name=loaded.file_name, article=longest.article_cn or "一段", n=len(longest.text),
            limit=limits.max_article_chars))
    missing = missing_parts(loaded, articles)
    if missing and not keep_partial:
        zh, en = missing
        raise PartialDocumentError(MSG_ARTICLES_MISSING.format(name=loaded.file_name, missing=zh, missing_en=en))
    if len(articles) > limits.max_articles:
        longest = max(len(line) for p in loaded.pages for line in p.text.split("\n"))
        no_breaks = longest > limits.max_articles  # e.g. megabytes on one line
        raise DocumentError(MSG_TOO_MANY_ARTICLES.format(
            name=loaded.file_name, n=len(articles), limit=limits.max_articles,
            why=f"（最长一行有 {longest} 个字符，文件可能没有换行）" if no_breaks else "",
            why_en=f" (its longest line has {longest} characters: no line breaks?)" if no_breaks else ""))
    return ParsedDocument(loaded, articles, missing[0] if missing else "")


def article_gaps(articles: list[Article]) -> list[tuple[Article, Article]]:
    """Neighbouring numbered articles whose numbers jump (第八十一条 then 第八十七条). A file
    may start anywhere (民法典's 合同编 starts at 第四百六十三条); inside it, numbers go up by one."""
    numbered = [a for a in articles if a.article_no is not None]
    return [(a, b) for a, b in zip(numbered, numbered[1:]) if b.article_no > a.article_no + 1]


def missing_parts(loaded: LoadedDocument, articles: list[Article]) -> tuple[str, str] | None:
    """(Chinese, English) description of the damaged pages and the article numbers that jump."""
    from rag.documents.pdf import page_ranges
    from rag.documents.statutes import int_to_cn

    gaps = article_gaps(articles)
    if not gaps and not loaded.damaged_pages:
        return None
    zh, en = [], []
    if loaded.damaged_pages:
        pages = page_ranges(loaded.damaged_pages)
        zh.append(f"第 {pages} 页已损坏，无法读取")
        en.append(f"page(s) {pages} damaged")
    for a, b in gaps[:MAX_GAPS_SHOWN]:
        first, last = a.article_no + 1, b.article_no - 1
        lost = f"第{int_to_cn(first)}条" + (f"至第{int_to_cn(last)}条" if last > first else "")
        where = ""
        if a.page and b.page:
            where = location_label(loaded.file_name, a.page) if a.page == b.page else \
                f"第 {a.page}–{b.page} {'段' if loaded.unit == 'paragraph' else '页'}"
        zh.append(f"{a.article_cn}之后是{b.article_cn}，缺{lost}" + (f"（{where}）" if where else ""))
        en.append(f"{a.article_cn} is followed by {b.article_cn}")
    if len(gaps) > MAX_GAPS_SHOWN:
        zh.append(f"另有 {len(gaps) - MAX_GAPS_SHOWN} 处编号跳跃")
        en.append(f"{len(gaps) - MAX_GAPS_SHOWN} more jumps")
    return "；".join(zh), "; ".join(en)


def read_path(path: str | Path, max_bytes: int) -> bytes:
    """A file's bytes for the CLI: missing paths, directories, FIFOs and devices are refused
    before anything is read, and reading stops at max_bytes + 1 (the size check then refuses)."""
    path = Path(path)
    name = path.name or str(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise path_error(path, exc) from None
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
        raise path_error(path, exc) from None
    if len(data) > max_bytes:  # it grew after the stat
        raise DocumentError(MSG_TOO_BIG.format(
            name=name, size=len(data) / BYTES_PER_MB, limit=max_bytes / BYTES_PER_MB))
    return data


def path_error(path: Path, exc: OSError) -> DocumentError:
    """What an OSError on a path means for the person who gave it, naming the path."""
    if exc.errno == errno.ENOENT:
        return DocumentError(MSG_MISSING.format(name=str(path)))
    if exc.errno == errno.ENAMETOOLONG:
        text = str(path)
        short = text if len(text) <= 60 else f"{text[:28]}…{text[-28:]}"
        return DocumentError(MSG_NAME_TOO_LONG.format(short=short, n=len(path.name),
                                                      n_bytes=len(os.fsencode(path.name))))
    if exc.errno == errno.ELOOP:
        return DocumentError(MSG_SYMLINK_LOOP.format(name=str(path)))
    if exc.errno in (errno.EACCES, errno.EPERM):
        return DocumentError(MSG_NO_PERMISSION.format(name=str(path)))
    return DocumentError(MSG_UNREADABLE.format(name=str(path), reason=exc.strerror or type(exc).__name__))


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
