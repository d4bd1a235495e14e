"""Citations from PDFs show their page: the KB keeps the PDF, rag.documents.page_images renders the page
with the article marked, and the chat page shows it behind a switch in the citation.

Real parts: PDFs written with fpdf2 and a CJK font, pdfium, LanceDB on a temp dir, the e5
embedder, the app under AppTest (the fake OpenAI server answers).
"""
from __future__ import annotations

import io
from pathlib import Path

import fpdf
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from rag.ingest import ingest_file
from rag.kb import KnowledgeBases
from rag.documents.page_images import render_page
from settings import ROOT, get_settings
from tests.browser import TEST_KB, app_data_dir, endpoints_json, prepare_data_dir, template_kbs
from tests.fakes import FakeOpenAI
from tests.kb_fixtures import MAX_BYTES, STATUTES
from tests.test_statutes import PDF_LINE_MM, _cjk_font_file, _truetype_subset

SOURCE = (STATUTES / "labor_contract_law_2012.txt").read_text(encoding="utf-8")
PROBATION = "同一用人单位与同一劳动者只能约定一次试用期"  # in 第十九条


def statute_pdf(tmp_path: Path, n_paragraphs: int = 60) -> bytes:
    """The first paragraphs of 《劳动合同法》 as a text PDF (several pages)."""
    font_file = _cjk_font_file()
    if font_file is None:
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    paragraphs = [p.strip() for p in SOURCE.split("\n\n") if p.strip()][:n_paragraphs]
    pdf = fpdf.FPDF()
    pdf.add_font("cjk", fname=str(_truetype_subset(font_file, "".join(paragraphs), tmp_path / "cjk.ttf")))
    pdf.set_font("cjk", size=11)
    pdf.add_page()
    for p in paragraphs:
        if pdf.will_page_break(PDF_LINE_MM):
            pdf.add_page()
        pdf.multi_cell(0, PDF_LINE_MM, p, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def scanned_copy(pdf_path: Path, page: int) -> bytes:
    """One page of a PDF as an image-only PDF: what a scanner produces (no text layer)."""
    image = render_page(pdf_path, page).image
    out = fpdf.FPDF(unit="pt", format=(image.width, image.height))
    out.add_page()
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    out.image(buf, x=0, y=0, w=image.width, h=image.height)
    return bytes(out.output())


@pytest.fixture
def pdf_kb(tmp_path, embedder):
    kb = KnowledgeBases(tmp_path / "kbs", embedder).create("pdf")
    result = ingest_file(kb, statute_pdf(tmp_path), "劳动合同法.pdf", MAX_BYTES)
    return kb, result


def test_kb_keeps_the_pdf_and_the_page_shows_the_article_marked(pdf_kb):
    kb, result = pdf_kb
    pdf = kb.source_pdf(result.doc_id)
    assert pdf is not None and pdf.read_bytes()[:5] == b"%PDF-"
    article = next(a for a in kb.articles if PROBATION in a.text)
    shown = render_page(pdf, article.page, article.text)
    assert shown.page == article.page and shown.n_pages >= article.page > 1
    assert shown.highlighted == len("".join(article.text.split()))  # every character of 第十九条 found
    plain = render_page(pdf, article.page)
    assert plain.highlighted == 0
    # the mark is visible: the highlighted page has yellow pixels the plain one lacks
    yellow = lambda im: sum(1 for r, g, b in im.getdata() if r > 240 and g > 200 and b < 180)
    assert yellow(shown.image) > 1000 and yellow(plain.image) == 0


def test_article_on_another_page_or_a_scan_is_shown_unmarked(pdf_kb, tmp_path):
    kb, result = pdf_kb
    pdf = kb.source_pdf(result.doc_id)
    article = next(a for a in kb.articles if PROBATION in a.text)
    other = 1 if article.page != 1 else 2
    assert render_page(pdf, other, article.text).highlighted == 0
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_copy(pdf, article.page))
    shown = render_page(scan, 1, article.text)
    assert shown.highlighted == 0 and shown.n_pages == 1
    with pytest.raises(ValueError, match="pages, not a page 99"):
        render_page(pdf, 99)


def test_removing_the_document_removes_its_pdf(pdf_kb):
    kb, result = pdf_kb
    pdf = kb.source_pdf(result.doc_id)
    kb.remove_document(result.doc_id)
    assert not pdf.exists() and kb.source_pdf(result.doc_id) is None


def test_text_uploads_keep_no_source(tmp_path, embedder):
    kb = KnowledgeBases(tmp_path / "kbs", embedder).create("txt")
    result = ingest_file(kb, SOURCE.encode(), "劳动合同法.txt", MAX_BYTES)
    assert kb.source_pdf(result.doc_id) is None and not (kb.store.folder / "sources").exists()


def test_chat_citation_shows_the_pdf_page_on_request(tmp_path, tmp_path_factory, monkeypatch, embedder):
    data = prepare_data_dir(tmp_path / "data", template_kbs(tmp_path_factory, embedder))
    pdf_library = KnowledgeBases(data / "kbs", embedder)
    ingest_file(pdf_library.create("PDF法规"), statute_pdf(tmp_path), "劳动合同法.pdf", MAX_BYTES)
    monkeypatch.setenv("LEGAL_RAG_DEFAULT_KB", TEST_KB)
    with app_data_dir(monkeypatch, data, embedder), FakeOpenAI(answer="依据《劳动合同法》第十九条。") as fake:
        monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", endpoints_json(embedded=fake.endpoint))
        get_settings.cache_clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        at.selectbox(key="kb_name").select("PDF法规").run()
        at.chat_input(key="question").set_value("试用期可以约定几次？").run()
        assert not at.exception, [e.value for e in at.exception]
        switches = [t for t in at.toggle if t.key.startswith("page_")]
        assert switches and all(t.label.startswith("查看 PDF 原页（第 ") for t in switches)
        assert not at.get("image")  # pages are rendered only on request
        switches[0].set_value(True).run()
        assert not at.exception, [e.value for e in at.exception]
        images = at.get("image")
        assert len(images) == 1
        caption = images[0].captions[0]
        assert "劳动合同法.pdf · 第 " in caption and "黄色标出的是该条文" in caption
