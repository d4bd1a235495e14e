"""One streamed chat through the project's own client, as the app would send it.

    python bench/gpu_chat.py http://127.0.0.1:8123/v1 legal

Used by bench/gpu_verify.sh against LightLLM; prints health, deltas and the time to the
first one. With a random-weight model the text is noise: this checks plumbing, not answers.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.client import ChatClient  # noqa: E402
from settings import Endpoint  # noqa: E402

QUESTION = "《劳动合同法》第四十七条规定了什么？"
MAX_TOKENS = 48


def main(base_url: str, model: str) -> None:
    client = ChatClient(Endpoint(base_url=base_url, model=model), model)
    print("health:", client.health())
    t0, first, deltas = time.perf_counter(), None, []
    for d in client.stream([{"role": "user", "content": QUESTION}], max_tokens=MAX_TOKENS, ignore_eos=True):
        first = first or time.perf_counter() - t0
        deltas.append(d)
    total = time.perf_counter() - t0
    print(f"streamed {len(deltas)} deltas in {total * 1000:.0f} ms, first after {(first or 0) * 1000:.0f} ms;"
          f" kinds {sorted({d.kind for d in deltas})}")
    print("text (random weights, so noise):", repr("".join(d.text for d in deltas)[:120]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "default")
