"""金融图表: a chart image to the base and the fine-tuned vision model side by side.

Without a vision endpoint (a fresh install) the page says what to connect and still works: a
text model answers from the table read off the chart (rag/documents/chart.py: OCR boxes and
measured bars or lines), labelled as such, with the table shown under the answer; a chart that
cannot be read gets a note instead of a guess (rag/answer/chart_qa.py). With no upload one of
the two bundled sample charts is used, so the flow can be tried at once.
"""
import streamlit as st

from rag.answer.chart_qa import CHART_SYSTEM_PROMPT, DEFAULT_CHART_QUESTION, OCR_LABEL, SAMPLE_CHARTS, chart_prompts
from rag.documents.chart import read_chart
from rag.documents.ocr import OcrError
from rag.errors import RagError, chinese_part
from rag.eval.evaluate import Sampling
from server.errors import ServerError
from server.images import check_image
from ui.compare import app_settings, chat_client, endpoint_index, endpoint_label, stream_side_by_side

NO_VISION = """**这个页面需要视觉模型端点。** 图表分析把图片交给视觉模型（例如 Qwen2-VL-7B-Instruct 与它的金融微调版），\
两者并排比较。现在只配置了文本模型，所以下面的回答**基于程序从图表中读出的数据表**（OCR 文字加上量出的柱高、\
点位），而不是图片本身；读不出的图表（饼图、照片、K 线图）不交给文本模型。

连接视觉模型（GPU 机器，步骤见 `docs/gpu.md`）。基础版：

```bash
python -m server launch \\
  --model-dir /models/Qwen2-VL-7B-Instruct \\
  --name finance-base
```

微调版：先用 `python -m server merge` 合并 LoRA，再用 `--name finance-lora` 启动合并后的模型。

启动器会打开 LightLLM 的视觉进程，并打印一行 `LEGAL_RAG_ENDPOINTS=…`（已含 `"kind": "vision"` 和 `image_tag`）：\
把它加入环境变量（两个端点合在一个 JSON 里），重启应用。"""

st.title("📈 金融图表分析")
settings = app_settings()
names = sorted(settings.endpoints, key=lambda n: (settings.endpoints[n].kind != "vision", n))
if any(settings.endpoints[n].kind == "vision" for n in names):
    left, right = st.columns(2)
    base = left.selectbox("基础模型", names, index=endpoint_index(names, settings.finance_base_endpoint), key="fin_base",
                          format_func=endpoint_label)
    tuned = right.selectbox("微调模型", names, index=endpoint_index(names, settings.finance_tuned_endpoint, 1),
                            key="fin_tuned", format_func=endpoint_label)
    roles = {base: "基础"} if base == tuned else {base: "基础", tuned: "微调"}  # never a model beside itself
else:
    st.info(NO_VISION)
    base = st.selectbox("回答模型（文本模型：读从图表读出的数据表）", names,
                        index=endpoint_index(names, settings.default_endpoint), key="fin_base",
                        format_func=endpoint_label)
    roles = {base: ""}

upload = st.file_uploader("图表图片（PNG / JPEG；不上传则用示例图表）", type=["png", "jpg", "jpeg"], key="fin_image")
if upload:
    chart, chart_name = upload.getvalue(), upload.name
else:
    chart_name = st.radio("示例图表（随程序附带）", list(SAMPLE_CHARTS), key="fin_sample")
    chart = SAMPLE_CHARTS[chart_name].read_bytes()
with st.expander("系统提示词", expanded=False):
    system = st.text_area("系统提示词", CHART_SYSTEM_PROMPT, key="fin_system", label_visibility="collapsed")
question = st.text_input("问题", DEFAULT_CHART_QUESTION, key="fin_question")
try:
    mime = check_image(chart, chart_name)  # said at once, before anything is sent
except ServerError as e:
    mime = None
    st.error(chinese_part(str(e)))
run = st.button("分析图表", key="fin_run", type="primary", disabled=mime is None or not question.strip())
chart_column, answer_column = st.columns([2, 3], gap="large")  # the chart stays in view beside the answers
if mime:
    chart_column.image(chart, caption=chart_name)

if run:
    with answer_column:
        try:
            clients = {name: chat_client(name) for name in roles}
            kinds = {name: settings.endpoints[name].kind for name in roles}
            with st.spinner("读取图表：识别文字（OCR）并测量图形…"):
                plan = chart_prompts(kinds, chart, mime, question, read_chart, system)
        except (ServerError, RagError, OcrError) as e:
            st.error(chinese_part(str(e)))
            st.stop()
        if plan.unreadable:
            st.warning(plan.unreadable)
        sampling = Sampling().as_kwargs()  # the evaluation defaults, so the demo matches the scores
        titles = {name: (f"{name}（{roles[name]}）" if roles[name] else name)
                  + (f" · {OCR_LABEL}" if prompt.from_ocr else "") for name, prompt in plan.prompts.items()}
        if plan.prompts:
            stream_side_by_side({titles[n]: (lambda c=clients[n], m=p.messages: c.stream(m, **sampling))
                                 for n, p in plan.prompts.items()})
        if plan.table:
            with st.container(border=True, key="fin_table"):
                st.markdown("**文本模型读到的图表数据表**")
                st.markdown(plan.table.markdown())
