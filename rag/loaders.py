"""Uploaded bytes + file name → LoadedFile (decoded text, per page for PDFs).

PDFs are read with pypdf, one Page per PDF page (1-based numbers). TXT/MD are decoded
from UTF-8 (with or without BOM), UTF-16 with a BOM, or GB18030 (a superset of GBK).
Every rejection raises DocumentError with a bilingual message that names the file and
what to do about it.

UTF-16 without a BOM is recognised by its NUL bytes (mostly-CJK text with no ASCII at
all is not). Does not: run OCR on scanned PDFs, read Word/HTML files, or
split text into articles (that is rag.statutes).
"""
from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
from pathlib import PurePath

from rag.errors import DocumentError
from rag.types import LoadedFile, Page

log = logging.getLogger(__name__)

PDF_SUFFIXES = (".pdf",)
TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = PDF_SUFFIXES + TEXT_SUFFIXES
PDF_MAGIC = b"%PDF-"
BOMS = (  # longest first is not needed: no BOM here is a prefix of another
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8"),
    (b"\xff\xfe", "utf-16-le", "utf-16"),
    (b"\xfe\xff", "utf-16-be", "utf-16"),
)
FALLBACK_ENCODINGS = ("utf-8", "gb18030")  # strict, in this order
# UTF-16 without a BOM shows as NUL high bytes of ASCII characters (newlines, digits) on
# one side of each byte pair; binary files have NULs scattered on both sides.
UTF16_NUL_SHARE = 0.1  # share of bytes on the NUL side that must be NUL
UTF16_SIDE_RATIO = 4  # ... and at least this many times the share on the other side (一 is U+4E00)
# Decoded text counts as binary when it has NUL characters, more than this share of
# control characters, or less than this share of readable characters (CJK, ASCII, punctuation).
MAX_CONTROL_SHARE = 0.01
MIN_READABLE_SHARE = 0.90
BYTES_PER_MB = 1024 * 1024

MSG_UNSUPPORTED = ("「{name}」的格式不受支持，请上传 {zh_list} 文件（Word 等请先另存为 PDF 或 TXT）。"
                   " / unsupported file type '{suffix}'; supported: {en_list}")
MSG_EMPTY = "「{name}」是空文件，没有任何文字。请检查文件后重新上传。 / the file is empty"
MSG_TOO_BIG = ("「{name}」大小为 {size:.1f} MB，超过上限 {limit:.0f} MB。请拆分文件或只上传需要的部分。"
               " / file is {size:.1f} MB, over the {limit:.0f} MB limit: split it or upload the relevant part")
MSG_ENCRYPTED = ("「{name}」是加密（有密码保护）的 PDF，无法读取。请先去除密码再上传。"
                 " / encrypted PDF: remove the password and upload it again")
MSG_SCANNED = ("「{name}」是扫描件，没有可提取的文字（暂不支持 OCR）。请上传文字版 PDF 或 TXT。"
               " / scanned PDF without a text layer (OCR not supported)")
MSG_CORRUPT = ("「{name}」已损坏或不是有效的 PDF，无法打开。请重新导出或下载该文件。"
               " / corrupt or invalid PDF ({detail}): export or download it again")
MSG_PDF_GARBLED = ("「{name}」的文字层无法正确解码（字体编码不受支持）。请用其他软件重新导出 PDF，或另存为 TXT 上传。"
                   " / the PDF's text layer decodes to garbage (unsupported font encoding):"
                   " re-export the PDF with another tool or upload it as TXT")
MSG_BINARY = ("「{name}」不是文本文件（内容是二进制数据）。请上传 UTF-8 或 GBK 编码的 TXT/MD 文件。"
              " / binary content, not text: upload a UTF-8 or GBK encoded .txt/.md file")


def load_file(data: bytes, file_name: str, max_bytes: int) -> LoadedFile:
    """Decode an upload; raise DocumentError with a message for the user when it can't."""
    name = PurePath(file_name).name or file_name
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(MSG_UNSUPPORTED.format(
            name=name, suffix=suffix or "(none)",
            zh_list="、".join(SUPPORTED_SUFFIXES), en_list=" ".join(SUPPORTED_SUFFIXES)))
    if not data:
        raise DocumentError(MSG_EMPTY.format(name=name))
    if len(data) > max_bytes:
        raise DocumentError(MSG_TOO_BIG.format(
            name=name, size=len(data) / BYTES_PER_MB, limit=max_bytes / BYTES_PER_MB))
    if suffix in PDF_SUFFIXES:
        pages, encoding = _read_pdf(data, name), "pdf"
    else:
        text, encoding = _decode_text(data, name)
        pages = [Page(text=text)]
    if not any(p.text.strip() for p in pages):
        if encoding == "pdf":
            raise DocumentError(MSG_SCANNED.format(name=name))
        raise DocumentError(MSG_EMPTY.format(name=name))
    return LoadedFile(file_name=name, pages=pages, encoding=encoding,
                      content_hash=hashlib.sha256(data).hexdigest())


def _read_pdf(data: bytes, name: str) -> list[Page]:
    # pypdf is imported here so that text-only users never pay for it.
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:len(PDF_MAGIC)] == PDF_MAGIC:
        raise DocumentError(MSG_CORRUPT.format(name=name, detail="no %PDF- header"))
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise DocumentError(MSG_ENCRYPTED.format(name=name))
        texts = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            AssertionError, OSError, RecursionError) as exc:
        # pypdf reports damage through many exception types; all mean "cannot read".
        log.info("pypdf could not read %s: %r", name, exc)
        raise DocumentError(MSG_CORRUPT.format(name=name, detail=type(exc).__name__)) from exc
    if not texts:
        raise DocumentError(MSG_CORRUPT.format(name=name, detail="no pages"))
    if _looks_binary("".join(texts)):
        # pypdf reads some CJK fonts (CID-keyed CFF with an embedded CMap) one byte per
        # character; indexing that text would only return nonsense later.
        raise DocumentError(MSG_PDF_GARBLED.format(name=name))
    return [Page(text=_normalise_newlines(t), page=n) for n, t in enumerate(texts, 1)]


def _opens_without_password(reader) -> bool:
    """PDFs with only an owner password (print/copy restrictions) open with ''."""
    try:
        return bool(reader.decrypt(""))
    except Exception as exc:  # noqa: BLE001  (missing crypto backend, unknown algorithm)
        log.info("decrypting with an empty password failed: %r", exc)
        return False


def _decode_text(data: bytes, name: str) -> tuple[str, str]:
    for bom, codec, label in BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                raise DocumentError(MSG_BINARY.format(name=name)) from None
            return _checked_text(text, name), label
    for codec in (_utf16_without_bom(data),) + FALLBACK_ENCODINGS:
        if codec is None:
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        return _checked_text(text, name), "utf-16" if codec.startswith("utf-16") else codec
    raise DocumentError(MSG_BINARY.format(name=name))


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
            or 0xFF00 <= code <= 0xFFEF         # full-width forms
            or 0x2000 <= code <= 0x206F         # general punctuation (“ ” — …)
            or 0x20000 <= code <= 0x3134F       # CJK extensions B–G (GB18030-2022)
            or (code < 0x2000 and unicodedata.category(ch)[0] in "LNP"))  # Latin, Greek, Cyrillic


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
