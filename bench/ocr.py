"""OCR benchmark: pages/s and character accuracy on statute pages rendered from known text.

The first articles of 《劳动合同法》 (../shared/data/statutes, read here only) are drawn with an
installed CJK font onto A4 pages at 150 dpi (a clean scan), saved as an image-only PDF, and
read back through the product's path (rag.documents.pdf: PDFium render → rag.documents.ocr). Accuracy is
1 − CER: the edit distance between the recognised and the known text over the known text's
length, whitespace removed; "width-folded" also maps full-/half-width forms together (NFKC),
since OCR often returns （ as (.

    python bench/ocr.py [--pages 3] [--font-px 30]

Does not: measure real scans (noise, skew, stamps); those read worse than this clean case.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "statutes" / "labor_contract_law_2012.txt"
PAGE_PX = (1240, 1754)  # A4 at 150 dpi
MARGIN_PX = 110
LINE_GAP = 1.6


def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    out = subprocess.run(["fc-list", ":lang=zh", "file", "family"], capture_output=True, text=True).stdout
    lines = sorted(out.splitlines(), key=lambda ln: ("Sans" not in ln, "Regular" not in ln))
    if not lines:
        sys.exit("no CJK font: apt-get install fonts-noto-cjk")
    path = lines[0].split(":")[0]
    return ImageFont.truetype(path, size, index=2 if path.endswith(".ttc") and "CJK" in lines[0] else 0)


def paginate(text: str, font_px: int) -> list[list[str]]:
    """Known text → pages of lines (paragraphs wrapped to the page width)."""
    per_line = (PAGE_PX[0] - 2 * MARGIN_PX) // font_px
    per_page = int((PAGE_PX[1] - 2 * MARGIN_PX) // (font_px * LINE_GAP))
    lines = []
    for paragraph in (p.strip() for p in text.split("\n")):
        while paragraph:
            lines.append(paragraph[:per_line])
            paragraph = paragraph[per_line:]
    return [lines[i:i + per_page] for i in range(0, len(lines), per_page)]


def draw(lines: list[str], font: ImageFont.FreeTypeFont, font_px: int) -> Image.Image:
    image = Image.new("RGB", PAGE_PX, "white")
    pen = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        pen.text((MARGIN_PX, MARGIN_PX + n * font_px * LINE_GAP), line, font=font, fill="black")
    return image


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def accuracy(recognised: str, known: str, fold: bool) -> float:
    squash = (lambda s: re.sub(r"\s+", "", unicodedata.normalize("NFKC", s) if fold else s))
    r, k = squash(recognised), squash(known)
    return 1 - edit_distance(r, k) / len(k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--font-px", type=int, default=30, help="30 px at 150 dpi ≈ 14 pt")
    args = parser.parse_args()
    text = SOURCE.read_text(encoding="utf-8")
    font = cjk_font(args.font_px)
    pages = paginate(text, args.font_px)[:args.pages]
    images = [draw(lines, font, args.font_px) for lines in pages]
    pdf = io.BytesIO()
    images[0].save(pdf, format="PDF", save_all=True, append_images=images[1:], resolution=150)

    from rag.documents import ocr
    from rag.documents.load import load_file

    started = time.perf_counter()
    ocr._get_engine()
    construct_s = time.perf_counter() - started
    started = time.perf_counter()
    loaded = load_file(pdf.getvalue(), "bench-scan.pdf", 50 << 20)
    elapsed = time.perf_counter() - started
    assert loaded.ocr_pages == list(range(1, len(pages) + 1)), loaded.ocr_pages
    known = ["\n".join(lines) for lines in pages]
    strict = [accuracy(p.text, k, fold=False) for p, k in zip(loaded.pages, known)]
    folded = [accuracy(p.text, k, fold=True) for p, k in zip(loaded.pages, known)]
    chars = sum(len(re.sub(r"\s+", "", k)) for k in known)
    print(f"OCR benchmark: {len(pages)} A4 pages at 150 dpi, {args.font_px} px Noto Sans CJK, {chars} known characters, "
          f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f})")
    print(f"engine construction: {construct_s:.2f} s (once per process)")
    print(f"speed: {len(pages) / elapsed:.3f} pages/s ({elapsed / len(pages):.1f} s/page, render + detect + recognise)")
    print(f"accuracy (1 - CER, whitespace removed): {sum(strict) / len(strict):.4f}  per page "
          + " ".join(f"{a:.4f}" for a in strict))
    print(f"accuracy, width-folded (NFKC: （ = ( ): {sum(folded) / len(folded):.4f}  per page "
          + " ".join(f"{a:.4f}" for a in folded))
    for p, k in zip(loaded.pages[:1], known[:1]):
        print("first recognised lines:", " | ".join(p.text.split("\n")[:3]))


if __name__ == "__main__":
    main()
