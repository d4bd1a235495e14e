"""Medical Q&A page: a Chinese question to the base and the fine-tuned model side by side.

Base and fine-tuned default to different endpoints (settings: medical_base_endpoint,
medical_tuned_endpoint). Without a fine-tuned endpoint the page says how to serve one and
asks the one model alone, never a model beside itself.
"""
from pathlib import Path

import streamlit as st

from rag.errors import RagError, chinese_part
from rag.eval.datasets import load_samples
from rag.eval.evaluate import Sampling
from server.errors import ServerError
from ui.compare import app_settings, chat_client, endpoint_index, endpoint_label, stream_side_by_side

EXAMPLES_SUBDIR = "secondary/medical_dialogue_sample"  # inside settings.datasets_dir, when set
EXAMPLE_COUNT = 20
SYSTEM_PROMPT = "你是一名认真负责的医生。请用通俗的中文回答患者的问题，说明可能的原因和建议，必要时提醒及时就医。"
NOTICE = "本页面仅用于模型效果演示，回答可能有误，不构成医疗建议；身体不适请及时就医。"
NO_TUNED = """**对比需要一个微调模型端点。** 现在没有配置「`{tuned}`」{situation}

在 GPU 机器上把 LoRA 合并进基础模型，再启动合并后的模型（步骤见 `docs/gpu.md` 第 3 节）：

```bash
python -m server merge --base /models/Qwen2.5-7B-Instruct --adapter saves/medical/lora/sft --out /models/qwen2.5-7b-medical
python -m server launch --model-dir /models/qwen2.5-7b-medical --name {tuned}
```

然后把启动时打印的地址以「`{tuned}`」为名加入 `LEGAL_RAG_ENDPOINTS`（基础模型同样以「`{base_name}`」为名加入），重启应用；\
端点名可用 `LEGAL_RAG_MEDICAL_BASE_ENDPOINT` / `LEGAL_RAG_MEDICAL_TUNED_ENDPOINT` 改。"""


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


st.title("🩺 医疗问答")
st.warning(NOTICE)
settings = app_settings()
names = sorted(settings.endpoints)
left, right = st.columns(2)
base = left.selectbox("基础模型", names, key="med_base", format_func=endpoint_label, index=endpoint_index(
    names, settings.medical_base_endpoint, endpoint_index(names, settings.default_endpoint)))
others = [n for n in names if n != base]  # the fine-tuned model is another endpoint, never the base again
tuned = right.selectbox("微调模型", others, index=endpoint_index(others, settings.medical_tuned_endpoint),
                        key="med_tuned", format_func=endpoint_label) if others else None
if settings.medical_tuned_endpoint not in settings.endpoints:
    situation = (f"，所以下面只用「{endpoint_label(base)}」一个模型回答，不拿模型和它自己比较。" if tuned is None
                 else "：右侧的对比模型不是医疗微调模型。")
    st.info(NO_TUNED.format(tuned=settings.medical_tuned_endpoint, situation=situation,
                            base_name=settings.medical_base_endpoint))
samples = examples(str(settings.datasets_dir / EXAMPLES_SUBDIR)) if settings.datasets_dir else []
if samples:
    st.selectbox("示例问题", [""] + samples, key="med_example", on_change=use_example)
question = st.text_area("你的问题", key="med_question", placeholder="例如：高血压患者能吃党参吗？")

if st.button("提问", key="med_ask", type="primary", disabled=not question.strip()):
    try:
        clients = {f"{base}（基础）": chat_client(base), f"{tuned}（微调）": chat_client(tuned)} if tuned \
            else {base: chat_client(base)}
    except ServerError as e:
        st.error(chinese_part(str(e)))
        st.stop()
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
    sampling = Sampling().as_kwargs()  # the evaluation defaults, so the demo matches the scores
    stream_side_by_side({title: (lambda c=c: c.stream(messages, **sampling)) for title, c in clients.items()})
