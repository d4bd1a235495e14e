"""Bytes of a text file → str: which encoding, and whether it is text at all.

UTF-8 (with or without BOM; HZ-GB2312's ~{…~} inside ASCII is decoded), UTF-32 and UTF-16
(BOM, or the NUL pattern of ASCII characters) first; then, strictly and in this order for
Chinese, GB18030 (a superset of GBK) unless charset-normalizer finds Big5, Shift-JIS/EUC-JP or
UTF-16 fits clearly better: Big5 only when its characters are the more common ones (GB2312
level 1 vs Big5 常用字), Japanese only with kana, UTF-16 only when it reads as mostly CJK. Ties go
to GB18030, unless the GB18030 reading is implausible (few common characters: Shift-JIS kanji
read as GB18030) or the bytes read as spaced Hangul in EUC-KR; then the encoding that reads
plausibly wins (Japanese, Korean), or the file is refused.

`not_chinese(text)` is the plausibility check every format's text passes before it is stored
(rag.documents.load.read_document): Korean or Japanese text, text with almost no Chinese
characters, or Chinese characters that are mostly rare ones (mojibake) are refused.

Zero-width characters (U+200B–U+200D, U+2060, U+FEFF) are removed: invisible, they would split
search words (第\u200b一条 is not 第一条). Odd-length UTF-16 and broken UTF-32 get their own message.

Does not: guess single-byte encodings (Latin-1, KOI8-R …), or repair mixed encodings (refused).
"""
from __future__ import annotations

import unicodedata

from rag.errors import DocumentError

BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32-le", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8"),
    (b"\xff\xfe", "utf-16-le", "utf-16"),
    (b"\xfe\xff", "utf-16-be", "utf-16"),
)
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))  # removed (str.translate)
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
# Plausibility (not_chinese). Of the 1,599 real statute files of the test corpus (lawrefbook + labour statutes) the lowest share
# of common characters is 0.977; Shift-JIS read as GB18030 gives 0.12, Chinese EUC-KR 0.40.
MIN_COMMON_SHARE = 0.8  # common characters (GB2312 level 1 or Big5 常用字) among the CJK ones
MIN_HAN_SHARE = 0.1  # CJK characters among the non-space ones: below, the text is hardly Chinese
MIN_HANGUL_SHARE = 0.3  # Korean: Hangul syllables among the non-space characters …
MIN_SPACE_SHARE = 0.08  # … and spaces between words (Chinese has almost none)
PLAUSIBILITY_SAMPLE = 200_000  # characters looked at, spread over the text

MSG_BINARY = ("「{name}」不是文本文件（内容是二进制数据）。请上传 UTF-8 或 GBK 编码的 TXT/MD 文件。"
              " / binary content, not text: upload a UTF-8 or GBK encoded .txt/.md file")
MSG_UTF16_ODD = ("「{name}」是 UTF-16 编码，但长度是奇数（{n} 字节）：少了一个字节，文件可能被截断。"
                 "请重新导出完整的文件，或用文本编辑器另存为 UTF-8 后上传。"
                 " / UTF-16 text of odd length ({n} bytes): a byte is missing, the file may be truncated;"
                 " export it again or save it as UTF-8")
MSG_UTF32_BROKEN = ("「{name}」是 UTF-32 编码（有 BOM），但长度 {n} 字节不是 4 的倍数：文件可能被截断。"
                    "请用文本编辑器另存为 UTF-8 后上传。 / UTF-32 text whose length ({n} bytes) is not a multiple"
                    " of 4: truncated? Save it as UTF-8")
MSG_WIDE_INVALID = ("「{name}」开头标明是 {encoding} 编码，但内容不是有效的 {encoding}（可能已损坏）。"
                    "请用文本编辑器另存为 UTF-8 后上传。 / marked {encoding} by its BOM but not valid {encoding}:"
                    " save it as UTF-8")
MSG_CONTROL_CHARS = ("「{name}」含 {n} 个控制字符（{shown}），不像正常的文本。请删除这些字符（或用文本编辑器另存为"
                     " UTF-8）后上传。 / {n} control characters ({shown}): remove them or save the text as UTF-8")
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
                raise _broken_wide(data, name, label) from None
            return _checked_text(text, name), label
    utf16 = _utf16_without_bom(data[:len(data) // 2 * 2])
    if utf16 and len(data) % 2:
        raise DocumentError(MSG_UTF16_ODD.format(name=name, n=len(data)))
    if utf16:
        decoded = _strict(data, utf16)
        if decoded is not None:
            return _checked_text(decoded, name), "utf-16"
    decoded = _strict(data, "utf-8")
    if decoded is not None:
        if "~{" in decoded and decoded.isascii():  # HZ-GB2312: GB2312 in 7-bit ASCII between ~{ and ~}
            hz = _strict(data, "hz")
            if hz is not None and hz != decoded and _cjk_share(hz) > _cjk_share(decoded):
                return _checked_text(hz, name), "hz"
        return _checked_text(decoded, name), "utf-8"
    return _decode_non_utf8(data, name)


def _broken_wide(data: bytes, name: str, label: str) -> DocumentError:
    """The message for a UTF-16/32 file (by its BOM) that does not decode."""
    width = 4 if label == "utf-32" else 2
    if len(data) % width:
        return DocumentError((MSG_UTF16_ODD if width == 2 else MSG_UTF32_BROKEN).format(name=name, n=len(data)))
    return DocumentError(MSG_WIDE_INVALID.format(name=name, encoding=label.upper()))


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
        korean = _strict(data, "cp949")
        if korean is not None and _is_korean(korean):
            return _checked_text(korean, name), "euc-kr"
        if _common_share_any(gb) >= MIN_COMMON_SHARE:
            return _checked_text(gb, name), "gb18030"
        # Shift-JIS kanji only (no kana) reads as rare GB18030 characters: the reading with the most
        # common characters wins; if none is plausible, not_chinese() refuses it, saying why.
        readings = [(_common_share_any(gb), gb, "gb18030")]
        for codec, label in (("cp932", "shift_jis"), ("euc_jp", "euc-jp"), ("cp950", "big5")):
            other = _strict(data, codec)
            if other is not None and not looks_binary(other):
                readings.append((_common_share_any(other), other, label))
        _, text, label = max(readings, key=lambda r: r[0])
        return _checked_text(text, name), label
    if len(data) % 2:  # UTF-16 (no BOM) that lost its last byte reads as nothing else
        for codec in ("utf-16-le", "utf-16-be"):
            wide = _strict(data[:-1], codec)
            if wide is not None and not looks_binary(wide) and _cjk_share(wide) >= MIN_CJK_SHARE:
                raise DocumentError(MSG_UTF16_ODD.format(name=name, n=len(data)))
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
    cjk = [ch for ch in _spread(text) if 0x4E00 <= ord(ch) <= 0x9FFF]
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


def _common_share_any(text: str) -> float:
    """Share of CJK characters that are common in simplified (GB2312 level 1) or traditional
    (Big5 常用字) Chinese; mojibake is mostly rare characters. 1.0 when there is no CJK."""
    cjk = [ch for ch in text[:PLAUSIBILITY_SAMPLE] if 0x4E00 <= ord(ch) <= 0x9FFF]
    if not cjk:
        return 1.0
    common = 0
    for ch in cjk:
        common += _is_common(ch)
    return common / len(cjk)


def _is_common(ch: str) -> bool:
    for codec, low, high in (("gb2312", 0xB0, 0xD7), ("big5", 0xA4, 0xC6)):
        try:
            encoded = ch.encode(codec)
        except UnicodeEncodeError:
            continue
        if len(encoded) == 2 and low <= encoded[0] <= high:
            return True
    return False


def _hangul_share(text: str) -> float:
    chars = [ch for ch in text[:PLAUSIBILITY_SAMPLE] if not ch.isspace()]
    return sum(0xAC00 <= ord(ch) <= 0xD7A3 for ch in chars) / max(1, len(chars))


def _is_korean(text: str) -> bool:
    """Hangul with spaces between words: Korean (GBK Chinese read as EUC-KR is Hangul too, unspaced)."""
    sample = text[:PLAUSIBILITY_SAMPLE]
    spaces = sum(ch == " " for ch in sample) / max(1, len(sample))
    return _hangul_share(sample) >= MIN_HANGUL_SHARE and spaces >= MIN_SPACE_SHARE


def _spread(text: str) -> str:
    """At most PLAUSIBILITY_SAMPLE characters, taken from the whole text (start, middle, end)."""
    if len(text) <= PLAUSIBILITY_SAMPLE:
        return text
    part = PLAUSIBILITY_SAMPLE // 4
    step = (len(text) - part) // 3
    return "".join(text[i * step:i * step + part] for i in range(4))


def not_chinese(text: str, title: str = "") -> tuple[str, str] | None:
    """Why this text is not plausible Chinese statute text, (Chinese, English), or None."""
    sample = _spread(text)
    chars = [ch for ch in sample if not ch.isspace()]
    if not chars:
        return None  # empty: reported as empty elsewhere
    if _is_korean(sample):
        return "这是韩文文本（如 EUC-KR 编码），不是中文", "Korean text, not Chinese"
    if _kana_share(sample) >= MIN_KANA_SHARE:
        return "这是日文文本（含假名），不是中文", "Japanese text (kana), not Chinese"
    han = sum(0x4E00 <= ord(ch) <= 0x9FFF or 0x3400 <= ord(ch) <= 0x4DBF for ch in chars) / len(chars)
    if han < MIN_HAN_SHARE:
        return (f"几乎没有汉字（汉字只占 {han:.0%}）", f"almost no Chinese characters ({han:.0%})")
    common = _common_share_any(sample)
    if common < MIN_COMMON_SHARE:
        return (f"解码后大多是生僻字（常用汉字只占 {common:.0%}），像是用错了编码的乱码",
                f"mostly rare characters ({common:.0%} common): wrong encoding, mojibake")
    if title and sum(0x4E00 <= ord(ch) <= 0x9FFF for ch in title) >= 4 and _common_share_any(title) < 0.5:
        return f"标题「{title[:30]}」像是乱码（大多是生僻字）", "the title is mojibake (rare characters)"
    return None


def _kana_share(text: str) -> float:
    return _share(text, 0x3040, 0x30FF)


def _cjk_share(text: str) -> float:
    return _share(text, 0x4E00, 0x9FFF)


def _share(text: str, low: int, high: int) -> float:
    """Share of characters in [low, high] among the non-space ones of a sample of the text."""
    total = inside = 0
    for ch in _spread(text):
        if not ch.isspace():
            total += 1
            inside += low <= ord(ch) <= high
    return inside / max(1, total)


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
    text = _normalise_newlines(text.translate(ZERO_WIDTH))
    if looks_binary(text):
        raise DocumentError(binary_message(text, name))
    return text


def binary_message(text: str, name: str) -> str:
    """MSG_BINARY, naming the control characters when that is what made the text look binary."""
    chars = [ch for ch in text[:DETECT_SAMPLE_BYTES] if not ch.isspace()]
    control = [ch for ch in chars if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn")]
    if "\x00" in text or not control or len(control) / max(1, len(chars)) <= MAX_CONTROL_SHARE:
        return MSG_BINARY.format(name=name)
    shown = "、".join(f"U+{ord(ch):04X}" for ch in dict.fromkeys(control[:50]))
    return MSG_CONTROL_CHARS.format(name=name, n=len(control), shown=shown)


def looks_binary(text: str) -> bool:
    """NUL anywhere, or (in a sample spread over the text) too many control or unreadable
    characters. Counted without a list of characters: a list of 13 M CJK characters alone takes
    a gigabyte."""
    if "\x00" in text:
        return True
    total = control = readable = 0
    for ch in _spread(text):
        if ch.isspace():
            continue
        total += 1
        control += unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn")
        readable += _is_readable(ch)
    if not total:
        return False  # whitespace only: reported as empty, not binary
    return control / total > MAX_CONTROL_SHARE or readable / total < MIN_READABLE_SHARE


def _is_readable(ch: str) -> bool:
    code = ord(ch)
    return (0x20 <= code < 0x7F                  # ASCII
            or 0x4E00 <= code <= 0x9FFF         # CJK unified ideographs
            or 0x3400 <= code <= 0x4DBF         # CJK extension A (GB18030 names)
            or 0x3000 <= code <= 0x303F         # CJK punctuation
            or 0x3040 <= code <= 0x30FF         # Japanese kana (Shift-JIS / EUC-JP text)
            or 0xAC00 <= code <= 0xD7A3         # Hangul syllables (EUC-KR text: refused later as not Chinese)
            or 0x3130 <= code <= 0x318F         # Hangul compatibility jamo
            or 0xFF00 <= code <= 0xFFEF         # full-width forms
            or 0x2000 <= code <= 0x206F         # general punctuation (“ ” — …)
            or 0x20000 <= code <= 0x3134F       # CJK extensions B–G (GB18030-2022)
            or (code < 0x2000 and unicodedata.category(ch)[0] in "LNP"))  # Latin, Greek, Cyrillic


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
