"""Chinese in place of the English that Streamlit draws itself (the uploader's button and its
"100MB per file" line, which also states Streamlit's cap rather than the app's; the top bar's
"Stop" while a question runs), by a small
CSS override on every page. Does not: change behaviour; the labels of our own widgets are
Chinese where they are made."""
from __future__ import annotations

import streamlit as st

UPLOAD_BUTTON = "选择文件"
STOP_BUTTON = "停止"  # the running script's "Stop" in the top bar


def chinese_overrides(max_upload_mb: int) -> None:
    st.html(f"""<style>
[data-testid="stFileUploaderDropzone"] button * {{ display: none !important; }}
[data-testid="stFileUploaderDropzone"] button::after {{ content: "{UPLOAD_BUTTON}"; font-size: 0.875rem; }}
[data-testid="stFileUploaderDropzoneInstructions"] span, [data-testid="stFileUploaderDropzoneInstructions"] small
  {{ font-size: 0 !important; }}
[data-testid="stFileUploaderDropzoneInstructions"] div::after
  {{ content: "拖放文件到这里，单个文件不超过 {max_upload_mb} MB"; font-size: 0.8rem; opacity: 0.7; }}
[data-testid="stStatusWidget"] button {{ font-size: 0 !important; }}
[data-testid="stStatusWidget"] button * {{ display: none !important; }}
[data-testid="stStatusWidget"] button::after {{ content: "{STOP_BUTTON}"; font-size: 0.875rem; }}
</style>""")
