"""Evaluation sets as Samples: alpaca JSON/JSONL (instruction, input, output), question/answer
JSONL (the medical dialogue, FinGLM and STARD/LeCoQA files) and multiple-choice CSV (CMMLU:
Question, A–D, Answer), one file or a folder of them.

Each Sample keeps a row id (file stem:row) that stays stable across runs, which is what
makes prediction resumable. Does not send anything to a model (rag/eval/evaluate.py does).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError

DATASET_SUFFIXES = (".json", ".jsonl", ".csv")
CHOICE_TEMPLATE = (
    "以下是一道单项选择题，请选出正确答案，并以“答案：X”的格式给出选项字母。\n\n"
    "{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}"
)


class DatasetError(RagError):
    """An evaluation file could not be read as a dataset."""


@dataclass
class Sample:
    """One row to predict. `options` (letter → text) marks a multiple-choice question."""

    id: str
    prompt: str
    label: str
    options: dict[str, str] | None = None
    system: str | None = None


def load_samples(path: str | Path, max_samples: int | None = None) -> list[Sample]:
    """Rows of a dataset file, or of every dataset file in a folder (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in DATASET_SUFFIXES)
        if not files:
            raise DatasetError(f"{path} holds no {'/'.join(DATASET_SUFFIXES)} dataset files.")
    elif path.is_file():
        files = [path]
    else:
        raise DatasetError(f"Dataset {path} does not exist.")
    samples: list[Sample] = []
    for f in files:
        for i, record in enumerate(_records(f)):
            samples.append(_to_sample(record, f"{f.stem}:{i}", f))
            if max_samples is not None and len(samples) >= max_samples:
                return samples
    return samples


def _records(path: Path) -> Iterable[dict]:
    try:
        if path.suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                yield from csv.DictReader(fh)
        elif path.suffix == ".jsonl":
            with path.open(encoding="utf-8-sig") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8-sig"))
            if not isinstance(data, list):
                raise DatasetError(f"{path.name}: expected a JSON list of records (alpaca format).")
            yield from data
        else:
            raise DatasetError(f"{path.name}: unsupported dataset type; use {', '.join(DATASET_SUFFIXES)}.")
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path.name} is not valid {path.suffix[1:].upper()}: {e}") from e


def _to_sample(r: dict, row_id: str, path: Path) -> Sample:
    def first(value: Any) -> str:
        return str(value[0] if isinstance(value, list) and value else value or "").strip()

    if not isinstance(r, dict):
        raise DatasetError(f"{path.name} row {row_id}: expected an object with fields, got {type(r).__name__}.")
    if "instruction" in r:  # alpaca
        prompt = "\n".join(s for s in (r.get("instruction"), r.get("input")) if s)
        return Sample(row_id, prompt, first(r.get("output")), system=r.get("system") or None)
    if "Question" in r and all(k in r for k in "ABCD"):  # CMMLU-style multiple choice
        options = {k: str(r[k]) for k in "ABCD"}
        prompt = CHOICE_TEMPLATE.format(question=r["Question"], **options)
        return Sample(row_id, prompt, str(r.get("Answer", "")).strip().upper(), options=options)
    for q_key, a_key in (("question", "answer"), ("ask", "answer"), ("query", "response"), ("prompt", "label")):
        if q_key in r and a_key in r:
            return Sample(row_id, str(r[q_key]).strip(), first(r[a_key]))
    raise DatasetError(
        f"{path.name} row {row_id}: unknown fields {sorted(r)[:8]}; expected alpaca "
        "(instruction/input/output), question/answer, ask/answer, or a CMMLU CSV."
    )
