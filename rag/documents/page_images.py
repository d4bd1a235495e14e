"""A PDF page as an image, with a cited article's text highlighted where the page holds it.

A lawyer checks a citation against the page it came from: the citation expander shows the
page the article starts on (`Article.page`), rendered with pdfium, and marks the article's
lines on it. The article is located in the page's text layer by its first characters
(whitespace ignored) and followed for as long as the page text agrees with it.

Does not: highlight on scanned pages (no text layer: the page is shown unmarked, and the
result says so), follow an article onto the next page, or correct for rotated pages.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw

RENDER_SCALE = 1.5  # 108 dpi: statute text is readable, a page is ~150 kB as PNG
HIGHLIGHT_RGBA = (255, 214, 0, 90)  # translucent yellow over the article's lines
MATCH_PREFIX = 12  # characters of the article (whitespace removed) that must appear on the page
LINE_TOLERANCE_PT = 3.0  # characters whose tops differ by less than this share a line


@dataclass
class PageImage:
    image: Image.Image
    page: int  # 1-based, as in Article.page
    n_pages: int
    highlighted: int  # characters of the article marked on the page (0: not found)


def render_page(pdf_path: Path, page: int, article_text: str = "", scale: float = RENDER_SCALE) -> PageImage:
    """Render page `page` (1-based) of a PDF, highlighting `article_text` where it is found."""
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        if not 1 <= page <= len(pdf):
            raise ValueError(f"{pdf_path.name} has {len(pdf)} pages, not a page {page}")
        pdf_page = pdf[page - 1]
        image = pdf_page.render(scale=scale).to_pil().convert("RGB")
        boxes = _article_boxes(pdf_page, article_text) if article_text else []
        if boxes:
            _highlight(image, boxes, pdf_page.get_size()[1], scale)
        return PageImage(image, page, len(pdf), len(boxes))
    finally:
        pdf.close()


def _article_boxes(pdf_page, article_text: str) -> list[tuple[float, float, float, float]]:
    """Character boxes (left, bottom, right, top, in PDF points) of the article on this page."""
    text_page = pdf_page.get_textpage()
    n = text_page.count_chars()
    page_text = text_page.get_text_range() if n else ""
    if len(page_text) != n:  # generated or surrogate characters: indices would not line up
        return []
    squashed_idx = [i for i, ch in enumerate(page_text) if not ch.isspace()]
    squashed = "".join(page_text[i] for i in squashed_idx)
    target = "".join(article_text.split())
    start = squashed.find(target[:MATCH_PREFIX]) if len(target) >= MATCH_PREFIX else -1
    if start < 0:
        return []
    length = 0
    while start + length < len(squashed) and length < len(target) and squashed[start + length] == target[length]:
        length += 1
    return [text_page.get_charbox(squashed_idx[k]) for k in range(start, start + length)]


def _highlight(image: Image.Image, boxes, page_height: float, scale: float) -> None:
    """One translucent rectangle per text line the boxes cover."""
    lines: list[list[float]] = []  # [left, bottom, right, top]
    for left, bottom, right, top in boxes:
        line = next((ln for ln in lines if abs(ln[3] - top) < LINE_TOLERANCE_PT), None)
        if line is None:
            lines.append([left, bottom, right, top])
        else:
            line[0], line[1] = min(line[0], left), min(line[1], bottom)
            line[2], line[3] = max(line[2], right), max(line[3], top)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for left, bottom, right, top in lines:
        draw.rectangle([left * scale - 2, (page_height - top) * scale - 2,
                        right * scale + 2, (page_height - bottom) * scale + 2], fill=HIGHLIGHT_RGBA)
    image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))
