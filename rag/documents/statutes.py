# Over 400 lines: parsing a law and finding article mentions in free text share the numerals, law names and heading grammar; the strict checks are the parser's own.
"""Statute structure: law title, 编/章/节 path, 第X条 articles with their 款/项, numerals.

`parse_statute` turns the text of one law into `Article`s; `find_article_mentions`
finds references such as 《劳动合同法》第四十七条 or 劳动法第44条 in free text (questions,
answers). Documents with too few article headings fall back to paragraph chunks.

Traditional characters (第一條, 第一編, 第一節, as decoded from Big5) are read like simplified
ones. With strict=True (uploads), a file that would index wrongly is refused with a
DocumentError: an article number seen twice anywhere in the file (the second would be merged
into the article before it), numbering that starts again at 第一条 (a second law in the file),
front matter opened with --- and never closed, or an article heading with no text.

Every step is linear in the text (normalize_law_name included); a 《…》 line longer than
MAX_TITLE_CHARS is not a title.

Does not: split several instruments printed in one file (refused, naming the restart),
expand ranges written with 至 (第三十八条至第四十条 yields the two ends), or resolve 本法 to a
law (its mention has law=None). Numbers that jump are found by rag.documents.load.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from rag.errors import DocumentError
from rag.types import Article, Page

MIN_STATUTE_ARTICLES = 3  # fewer article headings: not a statute, unless titled like a law
PARAGRAPH_CHUNK_CHARS = 600  # size cap of a paragraph chunk for non-statutes
MAX_ARTICLE_GAP = 30  # a larger forward jump must be confirmed by the next heading
MAX_HEADING_CHARS = 50  # 编/章/节 headings and titles are short lines
LAW_NAME_MAX_CHARS = 40
MAX_TITLE_CHARS = 200  # a longer 《…》 line is not a title (the longest of the 1,599 real files: 86)
CN_PREFIX = "中华人民共和国"

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_DIGITS = "零一二三四五六七八九"
NUM = r"[零〇一二两三四五六七八九十百千万]+|\d+"

# 编 levels, outermost first; an unnumbered markdown heading counts as a 章.
_LEVELS = ("编", "分编", "章", "节")
_STRUCTURE_RE = re.compile(rf"^第(?:{NUM})(分编|分編|编|編|章|节|節)(?:[\s　]+.*|$)")
_TRADITIONAL = {"編": "编", "分編": "分编", "節": "节"}
_ARTICLE_RE = re.compile(
    rf"^(?:\*\*)?[\s　]*第(?P<no>{NUM})[条條](?:之(?P<suf>{NUM}))?(?:\*\*)?(?P<sep>[\s　:：]*)(?P<rest>.*)$")
_TOC_RE = re.compile(r"^目[\s　]*录$")
_DATE_LINE_RE = re.compile(r"^[（(]?\d{4}年")
# A trailing （2018修正）: brackets holding a digit or an amendment word, none nested inside.
_OPEN, _CLOSE = "（(", "）)"
_BRACKETS = _OPEN + _CLOSE
_VERSION_NOTE = re.compile(r"\d|修正|修订|修改")
_SENTENCE_PUNCT = re.compile(r"[。；，;,]")
_PAGE_NUMBER_RE = re.compile(r"^[-–—\s]*(?:第\s*\d+\s*页(?:\s*共\s*\d+\s*页)?|\d+(?:\s*/\s*\d+)?)[-–—\s]*$")


def cn_to_int(text: str) -> int:
    """一千二百五十四 → 1254; also 十一, 一百零一, 两百, 二〇一八 (digit by digit), Arabic digits."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch not in _UNITS and ch != "万" for ch in text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    if not any(ch in _UNITS or ch == "万" for ch in text):  # 二〇一八: digit by digit
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:  # 十 百 千: a missing digit means one (十一 = 11)
            section += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
    return total + section + (digit or 0)


def _under_10000(n: int, leading: bool) -> str:
    out, zero = "", False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
        zero = False
        out += "" if (unit == 10 and d == 1 and leading and not out) else _CN_DIGITS[d]
        out += name
    return out


def int_to_cn(n: int) -> str:
    """1254 → 一千二百五十四; 10 → 十, 110 → 一百一十, 101 → 一百零一 (the statute style)."""
    if n < 0 or n >= 10 ** 8:
        raise ValueError(f"out of range: {n}")
    if n == 0:
        return "零"
    high, low = divmod(n, 10000)
    if not high:
        return _under_10000(low, leading=True)
    out = _under_10000(high, leading=True) + "万"
    if low:
        out += ("零" if low < 1000 else "") + _under_10000(low, leading=False)
    return out


def article_cn(no: int, suffix: int = 0) -> str:
    """(10, 1) → 第十条之一."""
    return f"第{int_to_cn(no)}条" + (f"之{int_to_cn(suffix)}" if suffix else "")


def normalize_law_name(name: str) -> str:
    """《中华人民共和国劳动法（2018修正）》 → 劳动法; keeps numbered parts like （一）.

    Linear in the length of name: each trailing version note is found by one scan back to its
    opening bracket (a regex search per note was quadratic on a long unclosed bracket)."""
    name = re.sub(r"[\s　*#]+", "", name).strip("《》<>〈〉")
    name = name.replace("《", "").replace("》", "")
    end = len(name)  # name[:end] is what is left; cut once at the end (no copy per note)
    while end and name[end - 1] in _CLOSE:
        opened = end - 2
        while opened >= 0 and name[opened] not in _BRACKETS:
            opened -= 1
        if opened < 0 or name[opened] not in _OPEN or not _VERSION_NOTE.search(name, opened + 1, end - 1):
            break
        end = opened
    name = name[:end]
    return name[len(CN_PREFIX):] if name.startswith(CN_PREFIX) and len(name) > len(CN_PREFIX) else name


# ---------------------------------------------------------------- parsing statutes

MSG_UNCLOSED_FRONT_MATTER = ("「{name}」以 --- 开头（文件头 front matter），但没有结束的 --- 行：整篇会被当作文件头。"
                             "请在文件头末尾补上一行 ---，或删除第一行的 ---。"
                             " / front matter opened with --- is never closed: add the closing --- or remove the first line")
MSG_DUPLICATE_ARTICLE = ("「{name}」中{article}连续出现两次（第 {first} 行和第 {second} 行）：后一条会被并入前一条。"
                         "请检查条文编号后重新上传。 / {article} appears twice in a row (lines {first} and {second}):"
                         " fix the numbering")
MSG_DUPLICATE_APART = ("「{name}」中{article}出现了两次（第 {first} 行和第 {second} 行）：后一条会被并入它前面的条文，"
                       "检索时会标错条号。请检查条文编号，或把不同版本存为单独的文件后重新上传。"
                       " / {article} appears twice (lines {first} and {second}): the second would be stored inside"
                       " another article; fix the numbering or put each version in a file of its own")
MSG_SECOND_LAW = ("「{name}」的条文编号在第 {second} 行又从第一条开始（第 {first} 行已有第一条）{title}："
                  "文件里可能有两部法规，后一部会被并入前一部。请把每部法规存为单独的文件后分别上传。"
                  " / the numbering starts again at 第一条 on line {second} (line {first} had one){title_en}:"
                  " two laws in one file? Put each law in a file of its own")
MSG_ARTICLE_WITHOUT_TEXT = ("「{name}」中{articles}只有编号，没有条文内容（第 {lines} 行）：可能是文件不完整或排版丢了文字。"
                            "请检查这些条文后重新上传。 / {articles_en} (line {lines}) have a number but no text:"
                            " is the file complete?")
MSG_NO_ARTICLE_TEXT = ("「{name}」只有条文编号（{articles}），没有条文内容。请检查文件是否完整。"
                       " / article headings ({articles}) with no text: is the file complete?")


def _clean_lines(text: str, strict: bool = False, file_name: str = "") -> list[str]:
    """Drop front matter and HTML comments; keep one entry per input line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        for end in range(1, len(lines)):
            if lines[end].strip().startswith("---"):
                lines = [""] * (end + 1) + lines[end + 1:]
                break
        else:
            if strict:
                raise DocumentError(MSG_UNCLOSED_FRONT_MATTER.format(name=file_name))
            lines = [""] + lines[1:]  # a lone --- is not the title
    return ["" if re.fullmatch(r"\s*<!--.*-->\s*", ln) else ln for ln in lines]


def _plain(line: str) -> tuple[str, int]:
    """Strip markdown heading marks and bold; return (text, heading depth or 0)."""
    m = re.match(r"^\s*(#+)\s*", line)
    depth = len(m.group(1)) if m else 0
    text = line[m.end():] if m else line
    return text.replace("**", "").strip(" \t　\ufeff"), depth


def _find_title(lines: list[str], file_name: str) -> str:
    for line in lines:
        text, depth = _plain(line)
        if not text:
            continue
        quoted = re.fullmatch(r"《([^》]+)》.*", text)
        if quoted and len(quoted.group(1)) <= MAX_TITLE_CHARS:
            return quoted.group(1)
        if (len(text) <= MAX_HEADING_CHARS and not _SENTENCE_PUNCT.search(text)
                and not _ARTICLE_RE.match(text) and not _STRUCTURE_RE.match(text)
                and not _DATE_LINE_RE.match(text) and not _TOC_RE.match(text)):
            return text
        if depth == 0:
            break  # body text before any title-like line
    return PurePath(file_name).stem if file_name else ""


def _skip_toc(lines: list[str]) -> list[str]:
    """Blank the 目录 line and the heading list after it, up to where the body repeats it."""
    out = list(lines)
    for i, line in enumerate(lines):
        if not _TOC_RE.match(_plain(line)[0]):
            continue
        out[i], first = "", None
        for j in range(i + 1, len(lines)):
            text = _plain(lines[j])[0]
            if not text:
                continue
            if text == first or _ARTICLE_RE.match(text) or len(text) > MAX_HEADING_CHARS:
                break
            first = first or text
            out[j] = ""
        break
    return out


@dataclass
class _Candidate:
    line: int
    key: tuple[int, int]
    spaced: bool  # whitespace or end of line after 第X条: the usual heading form
    rest: str


def _is_next(prev: tuple[int, int], key: tuple[int, int]) -> bool:
    return key in ((prev[0] + 1, 0), (prev[0], prev[1] + 1))


def _select_headings(cands: list[_Candidate], duplicates: list | None = None) -> list[_Candidate]:
    """Keep the headings that form a rising sequence; cross-references fall out. A spaced
    heading that repeats the number of one already kept, anywhere before it, is appended to
    `duplicates` as (first, second, in_a_row)."""
    chosen: list[_Candidate] = []
    kept: dict[tuple[int, int], _Candidate] = {}
    for i, c in enumerate(cands):
        if not chosen:
            ok = c.spaced or c.key == (1, 0)
        else:
            prev = chosen[-1].key
            if c.key <= prev:
                if c.spaced and c.key in kept and duplicates is not None:
                    duplicates.append((kept[c.key], c, c.key == prev))
                continue
            following = cands[i + 1] if i + 1 < len(cands) else None
            confirmed = following is None or _is_next(c.key, following.key)
            ok = _is_next(prev, c.key) or (c.spaced and (c.key[0] - prev[0] <= MAX_ARTICLE_GAP or confirmed))
        if ok:
            chosen.append(c)
            kept[c.key] = c
    return chosen


def _refuse_duplicate(name: str, lines: list[str], first: _Candidate, second: _Candidate, in_a_row: bool):
    """The message for a number seen twice: a restart at 第一条 is a second law in the file."""
    article, a, b = article_cn(*first.key), first.line + 1, second.line + 1
    if first.key == (1, 0):
        title = next((t for t in (_plain(ln)[0] for ln in reversed(lines[:second.line])) if t), "")
        title = title if len(title) <= MAX_HEADING_CHARS and not _ARTICLE_RE.match(title) else ""
        raise DocumentError(MSG_SECOND_LAW.format(
            name=name, first=a, second=b, title=f"（第 {b} 行之前是「{title}」）" if title else "",
            title_en=f" (the line before it reads '{title}')" if title else ""))
    template = MSG_DUPLICATE_ARTICLE if in_a_row else MSG_DUPLICATE_APART
    raise DocumentError(template.format(name=name, article=article, first=a, second=b))


def _line_pages(pages: list[Page] | None, text: str) -> tuple[str, list[int | None]]:
    """The text to parse and the page of each of its lines; lone page numbers are blanked."""
    if not pages:
        return text, []
    lines: list[str] = []
    page_of: list[int | None] = []
    for p in pages:
        page_lines = p.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        lines += ["" if _PAGE_NUMBER_RE.match(ln) else ln for ln in page_lines]
        page_of += [p.page] * len(page_lines)
    return "\n".join(lines), page_of


def parse_statute(text: str, file_name: str = "", pages: list[Page] | None = None,
                  strict: bool = False) -> list[Article]:
    """Split a statute into articles (款/项 kept with their 条); non-statutes into chunks.

    With pages (a PDF's, or a DOCX's paragraphs), their text is parsed instead of `text` and
    each article gets the page its heading is on. strict: refuse what would index wrongly
    (see the module doc) with a DocumentError naming the file.
    """
    text, page_of = _line_pages(pages, text)
    name = PurePath(file_name).name or file_name
    lines = _skip_toc(_clean_lines(text, strict, name))
    title = _find_title(lines, file_name)
    base = dict(law_title=title, law_short=normalize_law_name(title), file_name=file_name)

    cands = []
    for i, line in enumerate(lines):
        m = _ARTICLE_RE.match(_plain(line)[0])
        if m:
            key = (cn_to_int(m["no"]), cn_to_int(m["suf"]) if m["suf"] else 0)
            cands.append(_Candidate(i, key, bool(m["sep"]) or not m["rest"], m["rest"]))
    duplicates: list[tuple[_Candidate, _Candidate, bool]] = []
    headings = _select_headings(cands, duplicates)
    if strict and duplicates and len(headings) >= MIN_STATUTE_ARTICLES - 1:
        _refuse_duplicate(name, lines, *duplicates[0])
    if len(headings) < MIN_STATUTE_ARTICLES and not (headings and base["law_short"].endswith(LAW_SUFFIXES)):
        if strict and cands and all(not c.rest for c in cands):
            other = sum(1 for ln in lines if _plain(ln)[0]) - len(cands)
            if other <= 1:  # a title at most: the file is article numbers without their text
                _refuse_empty_articles(name, [Article(text="", article_cn=article_cn(*c.key)) for c in cands], cands)
        return _paragraph_chunks(lines, page_of, base)

    starts = {c.line: c for c in headings}
    path = dict.fromkeys(_LEVELS, "")
    articles: list[Article] = []
    bodies: list[list[str]] = []
    body: list[str] | None = None  # the article whose paragraphs are being collected
    for i, line in enumerate(lines):
        text, depth = _plain(line)
        c = starts.get(i)
        if c:
            articles.append(Article(
                text="", article_no=c.key[0], article_suffix=c.key[1], article_cn=article_cn(*c.key),
                chapter=" / ".join(v for v in path.values() if v),
                page=page_of[i] if i < len(page_of) else None, **base))
            body = [c.rest] if c.rest else []
            bodies.append(body)
        elif level := _heading_level(text, depth):
            path[level] = re.sub(r"[\s　]+", " ", text)
            for lower in _LEVELS[_LEVELS.index(level) + 1:]:
                path[lower] = ""
            body = None
        elif body is not None and text:
            body.append(text)
    for article, paragraphs in zip(articles, bodies):
        article.text = "\n".join(paragraphs)
    if strict:
        _refuse_empty_articles(name, articles, headings)
    return articles


def _refuse_empty_articles(name: str, articles: list[Article], headings: list[_Candidate]) -> None:
    """An article is a number and its text: one with no text would be found, cited and empty."""
    empty = [(a, c) for a, c in zip(articles, headings) if not a.text.strip()]
    if not empty:
        return
    listed = "、".join(a.article_cn for a, _ in empty[:3]) + ("…" if len(empty) > 3 else "")
    if len(empty) == len(articles):
        raise DocumentError(MSG_NO_ARTICLE_TEXT.format(name=name, articles=listed))
    lines = "、".join(str(c.line + 1) for _, c in empty[:3]) + ("…" if len(empty) > 3 else "")
    raise DocumentError(MSG_ARTICLE_WITHOUT_TEXT.format(name=name, articles=listed, lines=lines,
                                                        articles_en=listed))


def _heading_level(text: str, depth: int) -> str:
    if not text:
        return ""
    m = _STRUCTURE_RE.match(text)
    if m and len(text) <= MAX_HEADING_CHARS and not _SENTENCE_PUNCT.search(text):
        return _TRADITIONAL.get(m.group(1), m.group(1))
    if depth == 1 and text.endswith("编"):  # 民法典's "# 物权编"
        return "编"
    return "章" if depth >= 2 else ""  # an unnumbered markdown heading: ## 一、一般规定


def _paragraph_chunks(lines: list[str], page_of: list[int | None], base: dict) -> list[Article]:
    """Pack paragraphs into chunks of at most PARAGRAPH_CHUNK_CHARS (longer ones are cut)."""
    pieces: list[tuple[str, int | None]] = []
    for i, line in enumerate(lines):
        text = _plain(line)[0]
        page = page_of[i] if i < len(page_of) else None
        for start in range(0, len(text), PARAGRAPH_CHUNK_CHARS):
            pieces.append((text[start:start + PARAGRAPH_CHUNK_CHARS], page))
    chunks: list[tuple[list[str], int | None]] = []
    for text, page in pieces:
        if chunks and sum(map(len, chunks[-1][0])) + len(chunks[-1][0]) + len(text) <= PARAGRAPH_CHUNK_CHARS:
            chunks[-1][0].append(text)
        else:
            chunks.append(([text], page))
    return [Article(text="\n".join(parts), article_cn=f"段{n}", page=page, **base)
            for n, (parts, page) in enumerate(chunks, 1)]


# ---------------------------------------------------------------- mentions in free text

LAW_SUFFIXES = ("法典", "法", "条例", "规定", "办法", "细则", "解释", "决定", "规则")
# Words that end a bare law name on its left: 依照劳动合同法 → 劳动合同法.
_LEAD_INS = re.compile(r".*(?:根据|依据|依照|按照|参照|违反|适用|援引|引用|对照|符合|即|是|和|及|与|或|的|按)")
_NOT_LAWS = {"依法", "合法", "违法", "非法", "执法", "司法", "立法", "方法", "做法", "说法", "本法"}
_SELF_REF = re.compile(r"(?:本|该|此)(?:法|条例|规定|办法|细则|解释|决定)$")
_MENTION_RE = re.compile(
    rf"(?P<quoted>《(?P<qlaw>[^《》]{{1,{LAW_NAME_MAX_CHARS}}})》)?[\s　]*"
    rf"(?P<di>第[\s　]*)?(?P<no>{NUM})[\s　]*条(?:之(?P<suf>{NUM}))?"
    rf"(?:[\s　]*第(?:{NUM})款)?(?:[\s　]*第[（(]?(?:{NUM})[）)]?项)?")
_CONNECTOR_RE = re.compile(r"^[\s　、，,和及与或者以至到]*$")
SUB_REF_MAX = 9  # 「第八十二条 第一条」: a small 第X条 right after an article, naming no law, is that article's 款
_BARE_LAW_RE = re.compile(rf"([\u4e00-\u9fff（）()]{{1,{LAW_NAME_MAX_CHARS}}}?(?:{'|'.join(LAW_SUFFIXES)}))$")


@dataclass
class Mention:
    """An article reference found in text; law is None when not named (or 本法)."""

    law: str | None
    article_no: int
    suffix: int
    span: tuple[int, int]
    raw: str

    @property
    def article_cn(self) -> str:
        return article_cn(self.article_no, self.suffix)


def _bare_law_before(text: str, end: int) -> tuple[str | None, int]:
    """A law name written without 《》 right before position end, and where it starts.

    本法/本条例 give (None, its start): the mention then names no law."""
    m = _BARE_LAW_RE.search(text[max(0, end - LAW_NAME_MAX_CHARS):end])
    if not m:
        return None, end
    name = m.group(1)
    if CN_PREFIX in name:  # 中华人民共和国 contains 和, a lead-in word
        name = name[name.rindex(CN_PREFIX):]
    elif lead := _LEAD_INS.match(name):
        name = name[lead.end():]
    if self_ref := _SELF_REF.search(name):  # 本法第三十九条: no law named, keep 本法 in the span
        return None, end - len(self_ref.group())
    law = normalize_law_name(name)
    if law in LAW_SUFFIXES or law in _NOT_LAWS or not law.endswith(LAW_SUFFIXES):
        return None, end
    return law, end - len(name)


def find_article_mentions(text: str) -> list[Mention]:
    """Every 第X条 reference, with the law it names (or inherits within a 、-list)."""
    mentions: list[Mention] = []
    for m in _MENTION_RE.finditer(text):
        start = m.start()
        if m["quoted"]:
            law: str | None = normalize_law_name(m["qlaw"])
        else:
            law, start = _bare_law_before(text, m.start("di") if m["di"] else m.start("no"))
            if law is None and mentions and _CONNECTOR_RE.match(text[mentions[-1].span[1]:m.start()]):
                law = mentions[-1].law
        if not m["di"] and law is None and not m["quoted"]:
            continue  # "47条" alone is a count, not a citation
        no = cn_to_int(m["no"])
        if no == 0:
            continue
        if (last := mentions[-1] if mentions else None) and m["di"] and not m["quoted"] and not m["suf"] and no <= SUB_REF_MAX and no < last.article_no \
                and not text[last.span[1]:m.start("di")].strip():  # spaces only between: one citation of `last`
            last.span, last.raw = (last.span[0], m.end()), text[last.span[0]:m.end()]
            continue
        mentions.append(Mention(law, no, cn_to_int(m["suf"]) if m["suf"] else 0,
                                (start, m.end()), text[start:m.end()]))
    return mentions


def parse_article_ref(text: str) -> list[tuple[str | None, int, int]]:
    """(law_short or None, article_no, suffix) for each mention in text."""
    return [(m.law, m.article_no, m.suffix) for m in find_article_mentions(text)]
