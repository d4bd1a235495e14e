"""Bytes of a text file → str: which encoding, and whether it is text at all.

UTF-8 (with or without BOM) and UTF-16 (BOM, or the NUL pattern of ASCII characters) first;
then, strictly and in this order for Chinese, GB18030 (a superset of GBK) unless
charset-normalizer finds Big5, Shift-JIS/EUC-JP or UTF-16 fits clearly better: Big5 only when
its characters are the more common ones (GB2312 level 1 vs Big5 常用字), Japanese only with
kana, UTF-16 only when it reads as mostly CJK. Ties go to GB18030.

Does not: guess single-byte encodings (Latin-1, KOI8-R …), or repair mixed encodings (refused).
"""
from __future__ import annotations

import unicodedata

from rag.errors import DocumentError

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

MSG_BINARY = ("「{name}」不是文本文件（内容是二进制数据）。请上传 UTF-8 或 GBK 编码的 TXT/MD 文件。"
              " / binary content, not text: upload a UTF-8 or GBK encoded .txt/.md file")
MSG_UNDECODABLE = ("「{name}」的文字编码无法识别：它不是有效的 UTF-8、GB18030/GBK、Big5、Shift-JIS 或 UTF-16"
                   "（可能混用了多种编码或已损坏{hint}）。请用文本编辑器另存为 UTF-8 后上传。"
                   " / the text is not valid UTF-8, GB18030/GBK, Big5, Shift-JIS or UTF-16{hint_en}:"
                   " save it as UTF-8 and upload it again")


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """(text with \n newlines, encoding label); a DocumentError naming the file when it is not text."""
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
    gb_ok = gb is not None and not looks_binary(gb)
    guess = _detect(data)
    if guess == "big5":
        big5 = _strict(data, "cp950") or _strict(data, "big5")
        if big5 is not None and not looks_binary(big5) and (
                not gb_ok or _common_share(big5, "big5", 0xA4, 0xC6) > _common_share(gb, "gb2312", 0xB0, 0xD7)):
            return _checked_text(big5, name), "big5"
    elif guess in ("cp932", "euc_jp"):
        japanese = _strict(data, guess)
        if japanese is not None and _kana_share(japanese) >= MIN_KANA_SHARE and not looks_binary(japanese):
            return _checked_text(japanese, name), "shift_jis" if guess == "cp932" else "euc-jp"
    elif guess in ("utf_16_le", "utf_16_be"):
        wide = _strict(data, guess.replace("_", "-"))
        if wide is not None and not looks_binary(wide) and _cjk_share(wide) >= MIN_CJK_SHARE and not (
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
    if looks_binary(text):
        raise DocumentError(MSG_BINARY.format(name=name))
    return text


def looks_binary(text: str) -> bool:
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
