"""Text from images: scanned PDF pages and chart pictures, offline, on the CPU.

`recognise(image)` returns the text of a PIL image or PNG/JPEG bytes, lines in reading
order joined with newlines ("" when nothing is found). `ocr_pdf_pages` renders chosen
pages of a PDF with pypdfium2, one at a time, and recognises each, reporting progress.

The engine is rapidocr-onnxruntime (PP-OCRv4 Chinese detection + recognition, ONNX models
shipped in its wheel): built lazily, once per process (it takes about a second), and shared
by every caller; calls are serialised because the machine has few cores anyway.

Does not: detect page rotation (statute scans are upright; the angle classifier is off,
it costs a sixth of the time), recognise layout (tables come out as lines), or decide
which PDF pages need OCR (rag.documents.load does).
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from PIL import Image

RENDER_DPI = 150  # body text of a statute (10–12 pt) is 20–25 px high: what the recogniser likes
MAX_PIXELS = 12_000_000  # a page (or an image) is scaled down to this: an A4 page at 150 dpi is 2.2 M
MIN_LINE_SCORE = 0.5  # recognition confidence below this is dropped (noise, stamps)
ROW_OVERLAP = 0.5  # boxes sharing this much of the smaller height are on the same line

Progress = Callable[[float, str], None]


@dataclass
class TextLine:
    text: str
    box: tuple[float, float, float, float]  # left, top, right, bottom in image pixels
    score: float


class OcrError(Exception):
    """An image could not be read (not PNG/JPEG, truncated)."""


_engine = None
_engine_lock = threading.Lock()  # guards construction and every call


def _get_engine():
    global _engine
    if _engine is None:
        from rapidocr_onnxruntime import RapidOCR  # heavy: onnxruntime + opencv

        _engine = RapidOCR(use_cls=False)
    return _engine


def recognise(image: Image.Image | bytes) -> str:
    """The text in an image, lines in reading order joined with newlines; "" when none."""
    return "\n".join(_join_rows(recognise_lines(image)))


def recognise_lines(image: Image.Image | bytes) -> list[TextLine]:
    """Recognised text boxes, in reading order (top to bottom, then left to right)."""
    import numpy as np

    picture = _as_rgb(image)
    with _engine_lock:
        result, _ = _get_engine()(np.ascontiguousarray(np.asarray(picture)[:, :, ::-1]))  # RGB → BGR
    lines = []
    for box, text, score in result or []:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        if text.strip() and float(score) >= MIN_LINE_SCORE:
            lines.append(TextLine(text.strip(), (min(xs), min(ys), max(xs), max(ys)), float(score)))
    return [line for row in _rows(lines) for line in row]


def ocr_pdf_pages(data: bytes, page_numbers: Iterable[int], progress: Progress | None = None,
                  file_name: str = "") -> dict[int, str]:
    """page number (1-based) → recognised text, for the given pages of a PDF.

    Pages are rendered and recognised one at a time (memory stays at one page image); an
    exception raised by `progress` (a cancel) stops the work between pages.
    """
    wanted = list(page_numbers)
    out: dict[int, str] = {}
    for done, (number, image) in enumerate(render_pdf_pages(data, wanted)):
        if progress:
            progress(done / len(wanted), f"OCR 识别第 {number} 页（{done + 1}/{len(wanted)}）/ recognising page {number}")
        out[number] = recognise(image)
        image.close()
    if progress and wanted:
        progress(1.0, f"OCR 完成：{len(wanted)} 页 / OCR done")
    return out


def render_pdf_pages(data: bytes, page_numbers: list[int], dpi: int = RENDER_DPI) -> Iterator[tuple[int, Image.Image]]:
    """(page number, RGB image) for each page, rendered at dpi (scaled down to MAX_PIXELS)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        for number in page_numbers:
            page = pdf[number - 1]
            try:
                width, height = page.get_size()  # points
                scale = dpi / 72
                if width * height * scale * scale > MAX_PIXELS:
                    scale = (MAX_PIXELS / (width * height)) ** 0.5
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil().convert("RGB")
                bitmap.close()
            finally:
                page.close()
            yield number, image
    finally:
        pdf.close()


def _as_rgb(image: Image.Image | bytes) -> Image.Image:
    if isinstance(image, (bytes, bytearray)):
        try:
            image = Image.open(io.BytesIO(image))
            image.load()
        except (OSError, Image.DecompressionBombError, ValueError) as exc:
            raise OcrError(f"not a readable PNG/JPEG image: {exc}") from exc
    if image.width * image.height > MAX_PIXELS:
        scale = (MAX_PIXELS / (image.width * image.height)) ** 0.5
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    if image.mode == "RGBA":  # transparent background: text drawn on white
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Group boxes into visual lines (vertical overlap), rows top to bottom, boxes left to right."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda t: (t.box[1] + t.box[3]) / 2):
        top, bottom = line.box[1], line.box[3]
        if rows:
            r_top = min(t.box[1] for t in rows[-1])
            r_bottom = max(t.box[3] for t in rows[-1])
            overlap = min(bottom, r_bottom) - max(top, r_top)
            if overlap >= ROW_OVERLAP * min(bottom - top, r_bottom - r_top):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda t: t.box[0]) for row in rows]


def _join_rows(lines: list[TextLine]) -> list[str]:
    return [" ".join(t.text for t in row) for row in _rows(lines)]
