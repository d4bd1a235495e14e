"""Finance chart page: one chart image, the base and the fine-tuned vision model side by side."""
import streamlit as st

from rag.eval.evaluate import Sampling
from server.client import image_message
from server.errors import ServerError
from server.images import check_image
from settings import get_settings
from ui.compare import chat_client, endpoint_index, stream_side_by_side

BASE, TUNED = "finance-base", "finance-lora"
DEFAULT_SYSTEM = ("You are a financial analyst. Read the chart carefully: name the metric, the "
                  "periods and the units, quote the values you can read, and describe the trend "
                  "and its turning points precisely. Say so when a value cannot be read.")
DEFAULT_QUESTION = "Describe the overall change in trend of revenue presented in the chart"

st.title("金融图表分析")
settings = get_settings()
names = sorted(settings.endpoints, key=lambda n: (settings.endpoints[n].kind != "vision", n))
vision = [n for n in names if settings.endpoints[n].kind == "vision"]
if not vision:
    st.info('No vision endpoint is configured. Add one to LEGAL_RAG_ENDPOINTS with "kind": "vision", '
            'e.g. {"finance-base": {"base_url": "http://127.0.0.1:8001/v1", "model": "qwen2-vl", '
            '"kind": "vision"}}.')
    st.stop()

left, right = st.columns(2)
base = left.selectbox("Base model", names, index=endpoint_index(names, BASE), key="fin_base")
tuned = right.selectbox("Fine-tuned model", names, index=endpoint_index(names, TUNED, 1), key="fin_tuned")
upload = st.file_uploader("Chart image (PNG or JPEG)", type=["png", "jpg", "jpeg"], key="fin_image")
system = st.text_area("System prompt", DEFAULT_SYSTEM, key="fin_system")
question = st.text_input("Question", DEFAULT_QUESTION, key="fin_question")

if st.button("Analyse", key="fin_run", type="primary", disabled=upload is None or not question.strip()):
    data = upload.getvalue()
    try:
        mime = check_image(data, upload.name)
        clients = {f"{base} (base)": chat_client(base), f"{tuned} (fine-tuned)": chat_client(tuned)}
    except ServerError as e:
        st.error(str(e))
        st.stop()
    st.image(data, caption=upload.name)
    messages = [{"role": "system", "content": system}, image_message(question, data, mime)]
    sampling = Sampling().as_kwargs()  # the evaluation defaults, so the demo matches the scores
    stream_side_by_side({title: (lambda c=c: c.stream(messages, **sampling)) for title, c in clients.items()})
