"""Evaluation page: datasets scored like LLaMA-Factory (BLEU-4/ROUGE or accuracy, an LLM judge),
legal Q&A RAG vs the raw model, and the blind review's results. Thin: each part lives in ui/."""
import streamlit as st

from ui.compare import app_settings
from ui.dataset_eval import render_dataset_eval
from ui.legal_qa import render_legal_qa
from ui.review_results import render_review_results

st.set_page_config(page_title="模型评测", page_icon="📊", layout="wide")
st.title("模型评测")
settings = app_settings()
render_dataset_eval(settings)
st.divider()
render_legal_qa(settings)
render_review_results()  # 盲评结果 (the legal page's blind review mode)
