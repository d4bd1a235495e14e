"""Uploaded bytes + file name → LoadedDocument (decoded text, per page or paragraph) → articles.

PDFs: rag.pdf (text layer by page, OCR for scanned pages, damaged pages named). DOCX:
rag.word (one Page per paragraph/table, numbered). TXT/MD are decoded from UTF-8 (with or
without BOM), UTF-16 (BOM, or NUL pattern, or detected), then, strictly and in this order
for Chinese, GB18030 (a superset of GBK) unless charset-normalizer finds Big5, Shift-JIS or
UTF-16 fits better (Big5 only when its characters are the more common ones). Every
rejection raises DocumentError with a bilingual message that names the file and what to do.

`read_document` adds the statute parse and the per-file limits (OCR pages, articles), so
that a hostile file fails before any embedding; `read_path` reads a path for the CLI with
the size and file-type checks first. Does not: read HTML/XLSX/.doc, or split several laws
in one file (rag.statutes).
"""
from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Callable

from rag.errors import DocumentError
from rag.statutes import parse_statute
from rag.types import Article, LoadedFile, Page

PDF_SUFFIXES = (".pdf",)
DOCX_SUFFIXES = (".docx",)
TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = PDF_SUFFIXES + DOCX_SUFFIXES + TEXT_SUFFIXES
BOMS = (  # longest first is not needed: no BOM here is a prefix of another
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8"),
    (b"\xff\xfe", "utf-16-le", "utf-16"),
    (b"\xfe\xff", "utf-16-be", "utf-16"),
)
# UTF-16 without a BOM shows as NUL high bytes of ASCII characters (newlines, digits) on
# one side of each byte pair; binary files have NULs scattered on both sides.
UTF16_NUL_SHARE = 0.1  # share of bytes on the NUL side that must be NUL
UTF16_SIDE_RATIO = 4  # ... and at least this many times the share on the other side (一 is U+4E00)
# Other encodings charset-normalizer may name for non-UTF-8 bytes (GB18030 is the default).
DETECTED_ENCODINGS = ("gb18030", "big5", "cp932", "euc_jp", "utf_16_le", "utf_16_be")
DETECT_SAMPLE_BYTES = 256 * 1024
MIN_KANA_SHARE = 0.05  # Japanese text: at least this share of kana among its characters
MIN_CJK_SHARE = 0.3  # UTF-16 guessed without NULs must decode to mostly CJK text
# Decoded text counts as binary when it has NUL characters, more than this share of
# control characters, or less than this share of readable characters (CJK, ASCII, punctuation).
MAX_CONTROL_SHARE = 0.01
MIN_READABLE_SHARE = 0.90
BYTES_PER_MB = 1024 * 1024
READ_CHUNK = 1 << 20

# Defaults of the per-file limits; the edges pass settings' values (DocumentLimits.from_settings).
DEFAULT_MAX_OCR_PAGES = 30  # 10–60 s a page on 2 shared cores (bench/ocr.py): minutes, not hours
DEFAULT_MAX_ARTICLES = 3000  # 民法典 has 1,260 articles; embedding 3,000 takes minutes on 2 cores

MSG_UNSUPPORTED = ("「{name}」的格式不受支持，请上传 {zh_list} 文件（其他格式请先另存为 PDF、DOCX 或 TXT）。"
                   " / unsupported file type '{suffix}'; supported: {en_list}")
MSG_EMPTY = "「{name}」是空文件，没有任何文字。请检查文件后重新上传。 / the file is empty"
MSG_TOO_BIG = ("「{name}」大小为 {size:.1f} MB，超过上限 {limit:.0f} MB。请拆分文件或只上传需要的部分。"
               " / file is {size:.1f} MB, over the {limit:.0f} MB limit: split it or upload the relevant part")
MSG_BINARY = ("「{name}」不是文本文件（内容是二进制数据）。请上传 UTF-8 或 GBK 编码的 TXT/MD 文件。"
              " / binary content, not text: upload a UTF-8 or GBK encoded .txt/.md file")
MSG_UNDECODABLE = ("「{name}」的文字编码无法识别：它不是有效的 UTF-8、GB18030/GBK、Big5、Shift-JIS 或 UTF-16"
                   "（可能混用了多种编码或已损坏{hint}）。请用文本编辑器另存为 UTF-8 后上传。"
                   " / the text is not valid UTF-8, GB18030/GBK, Big5, Shift-JIS or UTF-16{hint_en}:"
                   " save it as UTF-8 and upload it again")
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
    from rag.pdf import page_ranges

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
        from rag.pdf import read_pdf

        pages, ocr_pages = read_pdf(data, name, limits.max_ocr_pages, progress, looks_binary=_looks_binary)
        encoding = "pdf"
    elif suffix in DOCX_SUFFIXES:
        from rag.word import read_docx

        pages, encoding, unit = read_docx(data, name, limits.max_bytes), "docx", "paragraph"
    else:
        text, encoding = _decode_text(data, name)
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


# ---------------------------------------------------------------- text encodings

def _decode_text(data: bytes, name: str) -> tuple[str, str]:
    for bom, codec, label in BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                raise DocumentError(MSG_BINARY.format(name=name)) from None
            return _checked_text(text, name), label
    utf16 = _utf16_without_bom(data)
    if utf16:
        decoded = _strict(data, utf16)
        if decoded is not None:
            return _checked_text(decoded, name), "utf-16"
    decoded = _strict(data, "utf-8")
    if decoded is not None:
        return _checked_text(decoded, name), "utf-8"
    return _decode_non_utf8(data, name)


def _decode_non_utf8(data: bytes, name: str) -> tuple[str, str]:
    """GB18030 unless the detector's Big5 / Shift-JIS / UTF-16 reading is clearly better."""
    gb = _strict(data, "gb18030")
    gb_ok = gb is not None and not _looks_binary(gb)
    guess = _detect(data)
    if guess == "big5":
        big5 = _strict(data, "cp950") or _strict(data, "big5")
        if big5 is not None and not _looks_binary(big5) and (
                not gb_ok or _common_share(big5, "big5", 0xA4, 0xC6) > _common_share(gb, "gb2312", 0xB0, 0xD7)):
            return _checked_text(big5, name), "big5"
    elif guess in ("cp932", "euc_jp"):
        japanese = _strict(data, guess)
        if japanese is not None and _kana_share(japanese) >= MIN_KANA_SHARE and not _looks_binary(japanese):
            return _checked_text(japanese, name), "shift_jis" if guess == "cp932" else "euc-jp"
    elif guess in ("utf_16_le", "utf_16_be"):
        wide = _strict(data, guess.replace("_", "-"))
        if wide is not None and not _looks_binary(wide) and _cjk_share(wide) >= MIN_CJK_SHARE and not (
                gb_ok and _cjk_share(gb) > _cjk_share(wide)):
            return _checked_text(wide, name), "utf-16"
    if gb_ok:
        return _checked_text(gb, name), "gb18030"
    if _mostly_binary(data):
        raise DocumentError(MSG_BINARY.format(name=name))
    raise DocumentError(MSG_UNDECODABLE.format(name=name, hint=f"；最接近 {guess}" if guess else "",
                                               hint_en=f" (closest: {guess})" if guess else ""))


def _detect(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:DETECT_SAMPLE_BYTES], cp_isolation=list(DETECTED_ENCODINGS)).best()
    if best is None:
        return None
    return {"big5hkscs": "big5", "cp950": "big5", "shift_jis": "cp932"}.get(best.encoding, best.encoding)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _common_share(text: str, codec: str, low: int, high: int) -> float:
    """Share of CJK characters among the frequent ones of an encoding (its first lead bytes):
    GB2312 level 1 (B0–D7) for simplified, Big5 常用字 (A4–C6) for traditional Chinese."""
    cjk = [ch for ch in text if 0x4E00 <= ord(ch) <= 0x9FFF]
    if not cjk:
        return 0.0
    common = 0
    for ch in cjk:
        try:
            encoded = ch.encode(codec)
        except UnicodeEncodeError:
            continue
        common += len(encoded) == 2 and low <= encoded[0] <= high
    return common / len(cjk)


def _kana_share(text: str) -> float:
    chars = [ch for ch in text if not ch.isspace()]
    return sum(0x3040 <= ord(ch) <= 0x30FF for ch in chars) / max(1, len(chars))


def _cjk_share(text: str) -> float:
    chars = [ch for ch in text if not ch.isspace()]
    return sum(0x4E00 <= ord(ch) <= 0x9FFF for ch in chars) / max(1, len(chars))


def _mostly_binary(data: bytes) -> bool:
    """Control bytes (other than tab/newline) mean binary; text in an unknown encoding has none."""
    sample = data[:DETECT_SAMPLE_BYTES]
    control = sum(b < 0x20 and b not in (9, 10, 13) for b in sample)
    return control / max(1, len(sample)) > MAX_CONTROL_SHARE


def _utf16_without_bom(data: bytes) -> str | None:
    if len(data) % 2 or b"\x00" not in data:
        return None
    half = len(data) // 2
    even, odd = data[0::2].count(0) / half, data[1::2].count(0) / half
    if odd >= UTF16_NUL_SHARE and odd >= UTF16_SIDE_RATIO * even:
        return "utf-16-le"
    if even >= UTF16_NUL_SHARE and even >= UTF16_SIDE_RATIO * odd:
        return "utf-16-be"
    return None


def _checked_text(text: str, name: str) -> str:
    text = _normalise_newlines(text.lstrip("\ufeff"))
    if _looks_binary(text):
        raise DocumentError(MSG_BINARY.format(name=name))
    return text


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return False  # whitespace only: reported as empty, not binary
    control = sum(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn") for ch in chars)
    readable = sum(_is_readable(ch) for ch in chars)
    return control / len(chars) > MAX_CONTROL_SHARE or readable / len(chars) < MIN_READABLE_SHARE


def _is_readable(ch: str) -> bool:
    code = ord(ch)
    return (0x20 <= code < 0x7F                  # ASCII
            or 0x4E00 <= code <= 0x9FFF         # CJK unified ideographs
            or 0x3400 <= code <= 0x4DBF         # CJK extension A (GB18030 names)
            or 0x3000 <= code <= 0x303F         # CJK punctuation
            or 0x3040 <= code <= 0x30FF         # Japanese kana (Shift-JIS / EUC-JP text)
            or 0xFF00 <= code <= 0xFFEF         # full-width forms
            or 0x2000 <= code <= 0x206F         # general punctuation (“ ” — …)
            or 0x20000 <= code <= 0x3134F       # CJK extensions B–G (GB18030-2022)
            or (code < 0x2000 and unicodedata.category(ch)[0] in "LNP"))  # Latin, Greek, Cyrillic


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
