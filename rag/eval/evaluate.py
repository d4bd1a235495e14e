"""Batch prediction over an evaluation set against chat endpoints, and its scores.

Sends every Sample (rag/eval/datasets.py reads the files) to a chat client concurrently; writes
LLaMA-Factory's `generated_predictions.jsonl` (prompt, predict, label, plus our row id) as
answers arrive, so an interrupted run resumes where it stopped; then scores the file
(rag/eval/metrics.py: BLEU-4/ROUGE for free text, accuracy for multiple choice).

RAG mode is a hook, not a dependency: pass `build_messages(question) -> messages` built
from whatever retriever you have. Does not resolve or start endpoints: callers hand in
clients (anything with `.chat(messages, **sampling)` returning an object with `.answer`).
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.eval import metrics
from rag.eval.datasets import Sample

PREDICTIONS_FILE = "generated_predictions.jsonl"  # LLaMA-Factory's name
METRICS_FILE = "metrics.json"
DEFAULT_CONCURRENCY = 4
# Stop a run after this many failures in a row: the endpoint is down, not one row bad.
MAX_CONSECUTIVE_FAILURES = 5

BuildMessages = Callable[[str], list[dict]]
Progress = Callable[[int, int], None]


class ChatLike(Protocol):
    def chat(self, messages: list[dict], **sampling: Any) -> Any: ...


@dataclass(frozen=True)
class Sampling:
    """Decoding settings; the defaults are the seed project's."""

    temperature: float = 0.1
    top_p: float = 0.9
    top_k: int = 40
    max_new_tokens: int = 512
    repetition_penalty: float = 1.1
    seed: int = 42

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ChatClient.chat: OpenAI names plus server extensions."""
        body = asdict(self)
        body["max_tokens"] = body.pop("max_new_tokens")
        return body


@dataclass
class PredictionRun:
    """What one endpoint produced: all rows in dataset order, resumed ones included."""

    path: Path
    rows: list[dict]
    new: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (row id, message)


def default_messages(sample: Sample, system_prompt: str | None = None) -> list[dict]:
    system = sample.system or system_prompt
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": sample.prompt}]


# ---------------------------------------------------------------- prediction

def read_predictions(path: str | Path) -> list[dict]:
    """Rows of a generated_predictions.jsonl; a torn last line (a crash) is dropped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def predict(
    samples: Sequence[Sample],
    client: ChatLike,
    out_file: str | Path,
    *,
    sampling: Sampling = Sampling(),
    concurrency: int = DEFAULT_CONCURRENCY,
    build_messages: BuildMessages | None = None,
    system_prompt: str | None = None,
    on_progress: Progress | None = None,
) -> PredictionRun:
    """Predict every sample not yet in `out_file`, appending as answers arrive.

    Failed rows are reported in `failures` and left out of the file, so a re-run retries
    them; after MAX_CONSECUTIVE_FAILURES in a row, or when nothing at all succeeds, the
    last error is raised. `on_progress(done, total)` is called from the calling thread.
    """
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    done = {r["id"]: r for r in read_predictions(out_file) if "id" in r}
    todo = [s for s in samples if s.id not in done]
    run = PredictionRun(out_file, [], skipped=len(samples) - len(todo))
    lock = threading.Lock()
    kwargs = sampling.as_kwargs()

    def one(sample: Sample) -> dict:
        messages = build_messages(sample.prompt) if build_messages else default_messages(sample, system_prompt)
        result = client.chat(messages, **kwargs)
        row = {"id": sample.id, "prompt": sample.prompt, "predict": result.answer, "label": sample.label}
        if getattr(result, "reasoning", ""):
            row["reasoning"] = result.reasoning
        with lock, out_file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return row

    total, finished, streak, last_error = len(samples), run.skipped, 0, None
    if on_progress:
        on_progress(finished, total)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        pending = {pool.submit(one, s): s for s in todo}
        while pending:
            completed, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in completed:
                sample = pending.pop(fut)
                try:
                    done[sample.id] = fut.result()
                    run.new += 1
                    streak = 0
                except Exception as e:  # noqa: BLE001 - any failed row is reported, not fatal
                    run.failures.append((sample.id, str(e)))
                    streak, last_error = streak + 1, e
                finished += 1
                if on_progress:
                    on_progress(finished, total)
            if streak >= MAX_CONSECUTIVE_FAILURES:
                for fut in pending:
                    fut.cancel()
                raise last_error
    if todo and run.new == 0 and last_error is not None:
        raise last_error
    wanted = {s.id for s in samples}
    run.rows = [done[s.id] for s in samples if s.id in done]
    _rewrite_in_order(out_file, run.rows, [r for i, r in done.items() if i not in wanted])
    return run


def _rewrite_in_order(path: Path, rows: list[dict], others: list[dict]) -> None:
    """Rewrite the file in dataset order (keeping rows of other samples) atomically."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows + others:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- scores

def score_predictions(rows: Sequence[dict]) -> dict[str, float]:
    """Accuracy when every label is one option letter, else BLEU-4/ROUGE (LLaMA-Factory)."""
    labels = [str(r.get("label", "")).strip().upper() for r in rows]
    if rows and all(len(l) == 1 and l in metrics.CHOICE_LETTERS for l in labels):
        picked = [metrics.extract_choice(r.get("predict", "")) for r in rows]
        return {
            "accuracy": metrics.choice_accuracy(picked, labels),
            "no_letter": sum(p is None for p in picked),
            "n": len(rows),
        }
    scores: dict[str, float] = metrics.mean_similarity((r.get("predict", ""), r.get("label", "")) for r in rows)
    scores["n"] = len(rows)
    return scores


def evaluate(
    samples: Sequence[Sample],
    clients: dict[str, ChatLike],
    out_dir: str | Path,
    *,
    resume: bool = True,
    on_progress: Callable[[str, int, int], None] | None = None,
    **predict_kwargs: Any,
) -> dict[str, dict]:
    """Predict with each named client into out_dir/<name>/ and score it.

    Writes out_dir/<name>/generated_predictions.jsonl and metrics.json, and
    out_dir/metrics.json with every endpoint's scores; returns that dict.
    resume=False discards earlier predictions (after changing sampling or prompts).
    `on_progress(name, done, total)` reports each endpoint's progress; the other
    keywords go to `predict` (sampling, concurrency, build_messages, system_prompt).
    """
    out_dir = Path(out_dir)
    results: dict[str, dict] = {}
    for name, client in clients.items():
        progress = (lambda d, t, n=name: on_progress(n, d, t)) if on_progress else None
        path = predictions_path(out_dir, name)
        if not resume:
            path.unlink(missing_ok=True)
        run = predict(samples, client, path, on_progress=progress, **predict_kwargs)
        scores = score_predictions(run.rows)
        scores["failed"] = len(run.failures)
        _write_json(run.path.parent / METRICS_FILE, scores)
        results[name] = scores
    _write_json(out_dir / METRICS_FILE, results)
    return results


def predictions_path(out_dir: str | Path, endpoint_name: str) -> Path:
    """Where `evaluate` writes one endpoint's generated_predictions.jsonl."""
    return Path(out_dir) / _safe_name(endpoint_name) / PREDICTIONS_FILE


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "endpoint"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
