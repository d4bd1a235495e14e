"""One streamed chat through the project's own client, as a page would send it.

    python bench/gpu_chat.py http://127.0.0.1:8123/v1 legal                      # the chat page's question
    python bench/gpu_chat.py URL medical-lora --page medical                      # pages/3_医疗问答.py
    python bench/gpu_chat.py URL finance-lora --page finance --image chart.png    # pages/2_金融图表.py

Builds the messages the page builds (its system prompt, `image_message` for the chart) and
streams them with `server.client.ChatClient.stream` and the page's sampling (the evaluation
defaults, rag.eval.evaluate.Sampling). For the finance page it also sends the same messages
once without streaming and once without the image, and prints the server's prompt token counts:
the difference is what the image added to the prompt. Used by bench/gpu_verify.sh against
LightLLM. With a random-weight model the text is noise: this checks plumbing, not answers.

LEGAL_RAG_CODE_ROOT picks the checkout whose server/ and settings.py are imported (default:
this one), so a run can use a committed snapshot while the working tree is being edited.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("LEGAL_RAG_CODE_ROOT") or str(Path(__file__).resolve().parents[1]))

from server.client import ChatClient, image_message, with_image_tags  # noqa: E402
from server.lightllm import endpoint_entry  # noqa: E402
from settings import Endpoint  # noqa: E402

QUESTION = "《劳动合同法》第四十七条规定了什么？"
MAX_TOKENS = 48
# The pages' own strings (pages/3_医疗问答.py SYSTEM_PROMPT, pages/2_金融图表.py defaults)
MEDICAL_SYSTEM = "你是一名认真负责的医生。请用通俗的中文回答患者的问题，说明可能的原因和建议，必要时提醒及时就医。"
MEDICAL_QUESTION = "高血压患者能吃党参吗？"
FINANCE_SYSTEM = ("You are a financial analyst. Read the chart carefully: name the metric, the "
                  "periods and the units, quote the values you can read, and describe the trend "
                  "and its turning points precisely. Say so when a value cannot be read.")
FINANCE_QUESTION = "Describe the overall change in trend of revenue presented in the chart"


def page_sampling() -> dict:
    """The pages' sampling: rag.eval.evaluate.Sampling().as_kwargs(), copied where rag/ cannot import."""
    try:
        from rag.eval.evaluate import Sampling

        return Sampling().as_kwargs()
    except ImportError:  # the GPU machine has no llama_index/jieba; same values as Sampling()
        return {"temperature": 0.1, "top_p": 0.9, "top_k": 40, "max_tokens": 512,
                "repetition_penalty": 1.1, "seed": 42}  # fmt: skip


def chart_png() -> bytes:
    """A small revenue bar chart drawn with Pillow (what a user would upload)."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 400), "white")
    d = ImageDraw.Draw(img)
    d.text((20, 10), "Revenue 2021-2025 (USD m)", fill="black")
    for i, v in enumerate([120, 150, 135, 190, 240]):
        x = 60 + i * 110
        d.rectangle([x, 360 - v, x + 60, 360], fill=(40, 90, 200))
        d.text((x + 10, 365), str(2021 + i), fill="black")
        d.text((x + 15, 340 - v), str(v), fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def prompt_tokens(base_url: str, model: str, messages: list[dict]) -> int | None:
    import httpx

    r = httpx.post(base_url.rstrip("/") + "/chat/completions", timeout=120,
                   json={"model": model, "messages": messages, "max_tokens": 1})  # fmt: skip
    if r.status_code != 200:
        print(f"  HTTP {r.status_code}: {r.text[:300]}")
        return None
    return (r.json().get("usage") or {}).get("prompt_tokens")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base_url")
    ap.add_argument("model", nargs="?", default="default")
    ap.add_argument("--page", choices=["legal", "medical", "finance"], default="legal")
    ap.add_argument("--image", type=Path, help="chart for --page finance (default: one drawn here)")
    ap.add_argument("--max-tokens", type=int, help="answer tokens (default: 48 legal, the page's 512 otherwise)")
    args = ap.parse_args()
    if args.page == "finance":  # the endpoint entry the launcher prints for a qwen2_vl model (its image tag)
        endpoint = Endpoint(**endpoint_entry(args.model, args.base_url, 8192, "qwen2_vl")[args.model])
    else:
        endpoint = Endpoint(base_url=args.base_url, model=args.model)
    client = ChatClient(endpoint, args.model)
    print("health:", client.health())
    if args.page == "legal":
        messages, sampling = [{"role": "user", "content": QUESTION}], {"max_tokens": MAX_TOKENS, "ignore_eos": True}
    elif args.page == "medical":
        messages, sampling = [{"role": "system", "content": MEDICAL_SYSTEM}, {"role": "user", "content": MEDICAL_QUESTION}], page_sampling()
    else:
        from server.images import check_image

        data = args.image.read_bytes() if args.image else chart_png()
        mime = check_image(data, "chart.png")
        messages = [{"role": "system", "content": FINANCE_SYSTEM}, image_message(FINANCE_QUESTION, data, mime)]
        sampling = page_sampling()
        text_only = [messages[0], {"role": "user", "content": FINANCE_QUESTION}]
        sent = with_image_tags(messages, endpoint.image_tag) if endpoint.image_tag else messages  # as the client sends it
        with_image, without = prompt_tokens(args.base_url, args.model, sent), prompt_tokens(args.base_url, args.model, text_only)
        print(f"image {len(data):,} bytes ({mime}): prompt tokens with the image {with_image}, without {without}"
              f" -> the image added {None if with_image is None or without is None else with_image - without}")
    if args.max_tokens:
        sampling["max_tokens"] = args.max_tokens
    t0, first, deltas = time.perf_counter(), None, []
    for d in client.stream(messages, **sampling):
        first = first or time.perf_counter() - t0
        deltas.append(d)
    total = time.perf_counter() - t0
    print(f"[{args.page} page path] streamed {len(deltas)} deltas in {total * 1000:.0f} ms, first after "
          f"{(first or 0) * 1000:.0f} ms; kinds {sorted({d.kind for d in deltas})}; sampling {json.dumps(sampling)}")
    print("text (random weights, so noise):", repr("".join(d.text for d in deltas)[:120]))


if __name__ == "__main__":
    main()
