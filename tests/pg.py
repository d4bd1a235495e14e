"""A real PostgreSQL with pgvector for tests: pgserver (PyPI: PostgreSQL 16 + pgvector binaries)
starts one server per test session on a Unix socket in a temp folder (~1.5 s), and each test
gets a fresh schema of its own, dropped afterwards.

Fixtures: `pg_url` (session), `pg_library` (a PgLibrary on a fresh schema); `pg_library_for`
builds one outside a fixture. conftest.py re-exports the fixtures.
"""
from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from rag.store.pg import PgLibrary


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    with server:  # stopped when the session ends
        yield server.get_uri()


def pg_library_for(url: str, tmp_path: Path) -> PgLibrary:
    """A PgLibrary on a new schema of its own (drop it with drop_schema)."""
    return PgLibrary(url, f"test_{uuid.uuid4().hex[:12]}", tmp_path / "pg-cache")


def drop_schema(library: PgLibrary) -> None:
    library.close()
    url = library._db.url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(library.schema)))


@pytest.fixture
def pg_library(pg_url, tmp_path) -> PgLibrary:
    library = pg_library_for(pg_url, tmp_path)
    yield library
    drop_schema(library)
