"""Streamlit entry: the navigation, with the legal assistant (pages/0_法律助手.py) first.

st.navigation names each page in Chinese; without it Streamlit would title the entry
script "app". Run: streamlit run app.py
"""
from __future__ import annotations

import streamlit as st

from ui.config import app_settings
from ui.startup import prepare
from ui.style import chinese_overrides

PAGES = [
    st.Page("pages/0_法律助手.py", title="法律助手", icon="⚖️", default=True),
    st.Page("pages/1_知识库.py", title="知识库", icon="📚"),
    st.Page("pages/2_金融图表.py", title="金融图表", icon="📈"),
    st.Page("pages/3_医疗问答.py", title="医疗问答", icon="🩺"),
    st.Page("pages/4_模型评测.py", title="模型评测", icon="📊"),
]


def main() -> None:
    page = st.navigation(PAGES)
    chinese_overrides(app_settings().max_upload_mb)
    prepare(page.title)
    page.run()


# Streamlit runs this file as __main__. A multiprocessing "spawn" child of a process that ran it
# (AppTest in the test suite) re-imports it as __mp_main__ and must not draw the app.
if __name__ == "__main__":
    main()
