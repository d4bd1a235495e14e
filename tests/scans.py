"""Test documents made from known text: scanned PDFs (text → image → PDF), text-layer PDFs with a
CJK font, and DOCX files. Nothing here is shipped; tests write these into their tmp dirs."""
from __future__ import annotations

import io
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

PAGE_PX = (1240, 1754)  # A4 at 150 dpi
MARGIN_PX = 100
FONT_PX = 30
LINE_PX = 48


@lru_cache(maxsize=1)
def cjk_font_file() -> tuple[Path, int] | None:
    """(font file, index in a .ttc) of an installed Simplified Chinese font, or None."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file", "family"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in sorted(out.splitlines(), key=lambda ln: ("Sans" not in ln, "Regular" not in ln)):
        path = Path(line.split(":")[0])
        if path.exists():
            families = line.split(":", 1)[1] if ":" in line else ""
            index = 2 if path.suffix == ".ttc" and "CJK" in families else 0  # Noto CJK: SC is face 2
            return path, index
    return None


def font(size: int = FONT_PX) -> ImageFont.FreeTypeFont:
    found = cjk_font_file()
    if found is None:
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    return ImageFont.truetype(str(found[0]), size, index=found[1])


def wrap(text: str, chars_per_line: int) -> list[str]:
    lines = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        while paragraph:
            lines.append(paragraph[:chars_per_line])
            paragraph = paragraph[chars_per_line:]
    return lines


def page_image(text: str, size: tuple[int, int] = PAGE_PX, font_px: int = FONT_PX) -> Image.Image:
    """A white page with text drawn in black, wrapped to the width (a clean scan)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    face = font(font_px)
    margin = min(MARGIN_PX, size[0] // 10, size[1] // 4)
    per_line = (size[0] - 2 * margin) // font_px
    y = margin
    for line in wrap(text, per_line):
        if y + LINE_PX > size[1] - margin:
            raise ValueError("text does not fit on one page")
        draw.text((margin, y), line, font=face, fill="black")
        y += LINE_PX
    return image


def scanned_pdf(pages: list[str | Image.Image]) -> bytes:
    """An image-only PDF: each page a picture of its text (no text layer)."""
    images = [p if isinstance(p, Image.Image) else page_image(p) for p in pages]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=150)
    return out.getvalue()


def text_pdf_with_scans(pages: list[tuple[str, bool]]) -> bytes:
    """A PDF mixing text-layer pages (False) and scanned pages (True), in order."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 makes the test PDFs")
    found = cjk_font_file()
    if found is None:
        pytest.skip("no CJK font on this machine")
    pdf = fpdf.FPDF()
    pdf.add_font("cjk", fname=str(found[0]), collection_font_number=found[1])
    pdf.set_font("cjk", size=12)
    for text, scanned in pages:
        pdf.add_page()
        if scanned:
            picture = io.BytesIO()
            page_image(text).save(picture, format="PNG")
            pdf.image(picture, x=0, y=0, w=pdf.w, h=pdf.h)
        else:
            for line in text.split("\n"):
                pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None, table_after: int = 0,
               pictures: int = 0) -> bytes:
    """A DOCX: paragraphs, optionally a table after paragraph `table_after`, and pictures."""
    import docx

    document = docx.Document()
    for n, text in enumerate(paragraphs, 1):
        document.add_paragraph(text)
        if table and n == table_after:
            grid = document.add_table(rows=len(table), cols=len(table[0]))
            for r, row in enumerate(table):
                for c, cell in enumerate(row):
                    grid.cell(r, c).text = cell
    for _ in range(pictures):
        picture = io.BytesIO()
        page_image("第一条 图片中的文字", size=(600, 200)).save(picture, format="PNG")
        picture.seek(0)
        document.add_picture(picture)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
