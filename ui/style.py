"""Chinese in place of the English that Streamlit draws itself, by a small CSS override on every
page: the uploader's button and its "Limit 50MB per file" line; a file the uploader refused in
the browser (over .streamlit/config.toml's maxUploadSize, or of a type it does not take), whose
size line reads 「未接受：超过 50 MB 或格式不符」; the top bar's "Stop" while a question runs. The toolbar's
English main menu (Rerun, Settings, Print…) is hidden: nothing in it is needed to use the app.

Does not: change behaviour; the labels of our own widgets are Chinese where they are made.
Streamlit's hover tooltip on a refused file stays English."""
from __future__ import annotations

import streamlit as st

UPLOAD_BUTTON = "选择文件"
STOP_BUTTON = "停止"  # the running script's "Stop" in the top bar
REFUSED_FILE = "未接受：超过 {mb} MB 或格式不符"


def chinese_overrides(max_upload_mb: int) -> None:
    st.html(f"""<style>
[data-testid="stFileUploaderDropzone"] button * {{ display: none !important; }}
[data-testid="stFileUploaderDropzone"] button::after {{ content: "{UPLOAD_BUTTON}"; font-size: 0.875rem; }}
[data-testid="stFileUploaderDropzoneInstructions"] span, [data-testid="stFileUploaderDropzoneInstructions"] small
  {{ font-size: 0 !important; }}
[data-testid="stFileUploaderDropzoneInstructions"] div::after
  {{ content: "拖放文件到这里，单个文件不超过 {max_upload_mb} MB"; font-size: 0.8rem; opacity: 0.7; }}
[data-testid="stFileChip"][aria-invalid="true"] [data-testid="stFileChipName"] + div {{ font-size: 0 !important; }}
[data-testid="stFileChip"][aria-invalid="true"] [data-testid="stFileChipName"] + div::after
  {{ content: "{REFUSED_FILE.format(mb=max_upload_mb)}"; font-size: 0.8rem; color: #d33; }}
[data-testid="stMainMenu"] {{ display: none !important; }}
[data-testid="stStatusWidget"] button {{ font-size: 0 !important; }}
[data-testid="stStatusWidget"] button * {{ display: none !important; }}
[data-testid="stStatusWidget"] button::after {{ content: "{STOP_BUTTON}"; font-size: 0.875rem; }}
</style>""")
