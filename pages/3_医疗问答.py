"""Medical Q&A page: a Chinese question to the base and the fine-tuned model side by side."""
from pathlib import Path

import streamlit as st

from rag.errors import RagError
from rag.eval.datasets import load_samples
from rag.eval.evaluate import Sampling
from server.errors import ServerError
from settings import get_settings
from ui.compare import chat_client, endpoint_index, stream_side_by_side

BASE, TUNED = "medical-base", "medical-lora"
EXAMPLES_SUBDIR = "secondary/medical_dialogue_sample"  # inside settings.datasets_dir, when set
EXAMPLE_COUNT = 20
SYSTEM_PROMPT = "你是一名认真负责的医生。请用通俗的中文回答患者的问题，说明可能的原因和建议，必要时提醒及时就医。"
NOTICE = "本页面仅用于模型效果演示，回答可能有误，不构成医疗建议；身体不适请及时就医。"


@st.cache_data
def examples(folder: str) -> list[str]:
    if not Path(folder).is_dir():
        return []
    try:
        return [s.prompt for s in load_samples(folder, EXAMPLE_COUNT)]
    except RagError:
        return []


def use_example() -> None:
    if st.session_state.med_example:
        st.session_state.med_question = st.session_state.med_example


st.title("医疗问答")
st.warning(NOTICE)
settings = get_settings()
names = sorted(settings.endpoints)
left, right = st.columns(2)
default = settings.default_endpoint
base = left.selectbox("基础模型", names, index=endpoint_index(names, BASE, endpoint_index(names, default)),
                      key="med_base")
tuned = right.selectbox("微调模型", names, index=endpoint_index(names, TUNED, endpoint_index(names, default)),
                        key="med_tuned")
samples = examples(str(settings.datasets_dir / EXAMPLES_SUBDIR)) if settings.datasets_dir else []
if samples:
    st.selectbox("示例问题", [""] + samples, key="med_example", on_change=use_example)
question = st.text_area("你的问题", key="med_question", placeholder="例如：高血压患者能吃党参吗？")

if st.button("提问", key="med_ask", type="primary", disabled=not question.strip()):
    try:
        clients = {f"{base}（基础）": chat_client(base), f"{tuned}（微调）": chat_client(tuned)}
    except ServerError as e:
        st.error(str(e))
        st.stop()
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
    sampling = Sampling().as_kwargs()  # the evaluation defaults, so the demo matches the scores
    stream_side_by_side({title: (lambda c=c: c.stream(messages, **sampling)) for title, c in clients.items()})
