"""First run (issue 12): what a new user sees before configuring anything.

The empty chat offers example questions that are asked exactly like typed ones (AppTest on a
real KB — tests/browser.py's 《劳动合同法》 template — with the loopback fake server answering).
The finance, medical and evaluation pages are in tests/test_domain_pages.py and
tests/test_eval_page.py; the demo pack's core and CLI in tests/test_demo_pack.py, its section of the
knowledge base page here.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from knowledge.demo_questions import CHAT_EXAMPLES, DEMO_QUESTION
from settings import ROOT, get_settings
from tests.browser import STATUTES, endpoints_json
from tests.fakes import ANSWER, FakeOpenAI

APP = str(ROOT / "app.py")
KB_PAGE = str(ROOT / "pages" / "1_知识库.py")
TIMEOUT_S = 60  # retrieval embeds the question on a loaded 2-core machine


@pytest.fixture(autouse=True)
def data_dir(app_data):
    return app_data


def test_empty_chat_offers_examples_and_a_click_asks_one(monkeypatch):
    assert 4 <= len(CHAT_EXAMPLES) <= 6 and CHAT_EXAMPLES[0][1] == DEMO_QUESTION
    with FakeOpenAI() as fake:
        monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", endpoints_json(embedded=fake.endpoint))
        get_settings.cache_clear()
        at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
        examples = [b for b in at.button if b.key and b.key.startswith("example_")]
        assert [(b.label, b.help) for b in examples] == list(CHAT_EXAMPLES)  # the whole question on hover
        assert any("RAG" in m.value and "原始模型" in m.value for m in at.markdown)  # what compare shows
        at.button(key="example_0").click().run()
        assert not at.exception, [e.value for e in at.exception]
        prompt = fake.requests[0]["messages"][-1]["content"]
    assert DEMO_QUESTION in prompt and "<法条>" in prompt  # asked as RAG, with retrieved articles
    assert len(at.chat_message) == 2  # the question and the answer turn, as for a typed question
    assert at.chat_message[0].markdown[0].value == DEMO_QUESTION
    assert ANSWER in "\n".join(m.value for m in at.chat_message[1].markdown)
    assert not [b for b in at.button if b.key and b.key.startswith("example_")]  # gone once a turn exists


def test_kb_page_demo_pack_adds_selected_files_with_status_and_names_the_rest():
    leave = STATUTES / "paid_annual_leave_regs_2007.txt"  # 职工带薪年休假条例, 10 articles
    law = STATUTES / "labor_law_2018.txt"  # a national law: not part of the pack
    at = AppTest.from_file(KB_PAGE, default_timeout=TIMEOUT_S).run()
    assert "工伤保险条例" in "".join(c.value for c in at.caption)  # what the KB still lacks
    assert at.button(key="kb_pack_add").disabled
    uploader = at.file_uploader(key="kb_pack_files_选择文件")
    uploader.upload(leave.name, leave.read_bytes(), "text/plain")
    uploader.upload(law.name, law.read_bytes(), "text/plain")
    at.run()
    at.button(key="kb_pack_add").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert (f"✅ 已添加：{leave.name} →《职工带薪年休假条例》10 条 · 现行有效 · 2008-01-01 施行"
            "（国务院令第514号，2007-12-14 公布，2008-01-01 施行）") in [m.value for m in at.markdown]
    assert at.warning[-1].value == f"1 个文件不是演示包中的法规（按标题识别），未添加：{law.name}"
    docs = at.dataframe[1].value  # the KB list, then the selected KB's documents
    assert list(docs["文件名"]) == ["labor_contract_law_2012.txt", leave.name]
    assert "演示包" in docs["来源"].iloc[1]
