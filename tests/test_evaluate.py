"""Batch prediction (formats, resumability, failures) against the fake OpenAI server, scoring,
the judge's reply parsing, and the `eval` CLI."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rag.eval import cli as eval_cli
from rag.eval import evaluate as ev
from rag.eval.datasets import DatasetError, load_samples
from rag.eval.judge import (
    DEFAULT_RUBRIC,
    JudgeParseError,
    judge_pair,
    judge_predictions,
    parse_rubric,
    parse_verdict,
    verdict_table,
)
from server.client import ChatClient
from server.errors import ServerNotRunning
from settings import ROOT, get_settings
from tests.fakes import ANSWER, REASONING, FakeOpenAI

SECONDARY = ROOT.parent / "shared" / "data" / "secondary"
CMMLU = SECONDARY / "cmmlu_medicine" / "professional_medicine_test.csv"
DIALOGUE = SECONDARY / "medical_dialogue_sample" / "internal_medicine_sample_500.jsonl"
needs_data = pytest.mark.skipif(not SECONDARY.is_dir(), reason="shared/data/secondary is not checked out")


def alpaca(tmp_path: Path, n: int = 5, suffix: str = ".jsonl") -> Path:
    rows = [{"instruction": f"问题{i}", "input": "补充" if i % 2 else "", "output": f"答案{i}"} for i in range(n)]
    path = tmp_path / f"set{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------- datasets

@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_alpaca_joins_instruction_and_input(tmp_path, suffix):
    samples = load_samples(alpaca(tmp_path, suffix=suffix))
    assert [s.prompt for s in samples[:2]] == ["问题0", "问题1\n补充"]
    assert samples[1].label == "答案1" and samples[1].options is None
    assert len(load_samples(alpaca(tmp_path, suffix=suffix), max_samples=3)) == 3


@needs_data
def test_cmmlu_csv_becomes_a_choice_question():
    first = load_samples(CMMLU, max_samples=1)[0]
    assert first.label == "D"
    assert "导致支气管扩张症的主要病变基础是" in first.prompt
    assert "D. 支气管壁结构破坏" in first.prompt
    assert first.options["D"] == "支气管壁结构破坏"


@needs_data
def test_qa_jsonl_and_folders():
    dialogue = load_samples(DIALOGUE, max_samples=2)
    assert dialogue[0].prompt.startswith("我有高血压") and dialogue[0].label.startswith("高血压病人")
    fin = load_samples(SECONDARY / "finglm_smp2023_qa", max_samples=1)[0]  # answer is a list
    assert fin.prompt.startswith("能否根据2020年金宇生物") and fin.label.startswith("在社会责任工作方面")
    folder = load_samples(SECONDARY / "cmmlu_medicine")
    assert len(folder) == 1071 and len({s.id for s in folder}) == 1071


def test_unreadable_datasets_say_why(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_samples(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"foo": 1}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="unknown fields"):
        load_samples(bad)
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="not valid JSONL"):
        load_samples(bad)


# ---------------------------------------------------------------- prediction

def test_predict_writes_llamafactory_rows_with_seed_sampling(tmp_path):
    samples = load_samples(alpaca(tmp_path, 3))
    out = tmp_path / "out" / ev.PREDICTIONS_FILE
    with FakeOpenAI() as fake:
        run = ev.predict(samples, ChatClient(fake.endpoint, "fake"), out, concurrency=2)
        body = fake.requests[0]
    rows = ev.read_predictions(out)
    assert [r["id"] for r in rows] == [s.id for s in samples]  # dataset order, not arrival order
    assert rows[0] == {"id": samples[0].id, "prompt": "问题0", "predict": ANSWER, "label": "答案0",
                       "reasoning": REASONING}
    assert run.new == 3 and run.skipped == 0 and not run.failures
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "max_tokens", "repetition_penalty", "seed")} == {
        "temperature": 0.1, "top_p": 0.9, "top_k": 40, "max_tokens": 512, "repetition_penalty": 1.1, "seed": 42}


def test_predict_resumes_where_it_stopped(tmp_path):
    samples = load_samples(alpaca(tmp_path, 5))
    out = tmp_path / ev.PREDICTIONS_FILE
    with FakeOpenAI() as fake:
        client = ChatClient(fake.endpoint, "fake")
        ev.predict(samples[:2], client, out)
        with out.open("a", encoding="utf-8") as fh:  # a crash mid-write leaves a torn line
            fh.write('{"id": "set:2", "prompt": "问')
        progress = []
        run = ev.predict(samples, client, out, on_progress=lambda d, t: progress.append((d, t)))
        assert len(fake.requests) == 2 + 3  # only the rows not yet in the file
        again = ev.predict(samples, client, out)
        assert len(fake.requests) == 5
    assert (run.new, run.skipped) == (3, 2) and (again.new, again.skipped) == (0, 5)
    assert progress[0] == (2, 5) and progress[-1] == (5, 5)
    assert [r["id"] for r in ev.read_predictions(out)] == [s.id for s in samples]


class FailsOn:
    """A client that fails for some prompts and otherwise delegates to a real one."""

    def __init__(self, client, bad: set[str]):
        self.client, self.bad = client, bad

    def chat(self, messages, **sampling):
        if messages[-1]["content"] in self.bad:
            raise ServerNotRunning("http://127.0.0.1:9/v1")
        return self.client.chat(messages, **sampling)


def test_failed_rows_are_reported_and_retried_next_run(tmp_path):
    samples = load_samples(alpaca(tmp_path, 4))
    out = tmp_path / ev.PREDICTIONS_FILE
    with FakeOpenAI() as fake:
        client = ChatClient(fake.endpoint, "fake")
        run = ev.predict(samples, FailsOn(client, {"问题2"}), out)
        assert [i for i, _ in run.failures] == ["set:2"] and "not answering" in run.failures[0][1]
        assert "set:2" not in {r["id"] for r in ev.read_predictions(out)}
        retry = ev.predict(samples, client, out)
    assert retry.new == 1 and len(retry.rows) == 4


def test_a_dead_endpoint_stops_the_run_with_its_message(tmp_path):
    samples = load_samples(alpaca(tmp_path, 12))
    with FakeOpenAI(mode="refuse") as fake:
        with pytest.raises(ServerNotRunning, match="not answering"):
            ev.predict(samples, ChatClient(fake.endpoint, "fake", retries=0), tmp_path / "p.jsonl", concurrency=2)
    assert ev.read_predictions(tmp_path / "p.jsonl") == []


def test_build_messages_hook_replaces_the_prompt(tmp_path):
    samples = load_samples(alpaca(tmp_path, 1))
    hook = lambda q: [{"role": "system", "content": "依据以下法条回答：劳动法第四十四条"},  # noqa: E731
                      {"role": "user", "content": q}]
    with FakeOpenAI() as fake:
        ev.predict(samples, ChatClient(fake.endpoint, "fake"), tmp_path / "p.jsonl", build_messages=hook)
        assert fake.requests[0]["messages"][0]["content"].startswith("依据以下法条回答")


# ---------------------------------------------------------------- scores

@needs_data
def test_evaluate_scores_choice_questions_and_writes_files(tmp_path):
    samples = load_samples(CMMLU, max_samples=3)  # gold D, B, C
    with FakeOpenAI(answer="根据病理，答案：D") as fake:
        results = ev.evaluate(samples, {"base": ChatClient(fake.endpoint, "base")}, tmp_path)
    assert results["base"] == {"accuracy": pytest.approx(33.3333), "no_letter": 0, "n": 3, "failed": 0}
    assert json.loads((tmp_path / ev.METRICS_FILE).read_text(encoding="utf-8")) == results
    assert (tmp_path / "base" / ev.METRICS_FILE).exists()
    assert len(ev.read_predictions(ev.predictions_path(tmp_path, "base"))) == 3


def test_evaluate_fresh_discards_earlier_predictions(tmp_path):
    samples = load_samples(alpaca(tmp_path, 2))
    with FakeOpenAI() as fake:
        clients = {"m": ChatClient(fake.endpoint, "m")}
        ev.evaluate(samples, clients, tmp_path / "out")
        ev.evaluate(samples, clients, tmp_path / "out")  # resumed: nothing left to ask
        assert len(fake.requests) == 2
        ev.evaluate(samples, clients, tmp_path / "out", resume=False)
        assert len(fake.requests) == 4


def test_free_text_is_scored_with_bleu_and_rouge():
    rows = [{"predict": "患者应该多喝水，注意休息", "label": "患者需要注意休息，多喝水"}]
    scores = ev.score_predictions(rows)
    assert scores["bleu-4"] == pytest.approx(35.0844, abs=1e-3) and scores["rouge-1"] == pytest.approx(83.3333)
    assert scores["n"] == 1


# ---------------------------------------------------------------- judge

DIMS = list(DEFAULT_RUBRIC)


@pytest.mark.parametrize("reply", [
    '{"A": {"计算基数主张": 8, "证据链构建": 6}, "B": {"计算基数主张": 5, "证据链构建": 9}, "胜者": "B"}',
    '<think>先看A……{"A": 1}</think>\n```json\n{"A": {"计算基数主张": "8分", "证据链构建": "6/10",},'
    ' "B": {"计算基数主张": 5, "证据链构建": 9}}\n```',
    "评分：{'scores': {'回答A': {'计算基数主张': 8, '证据链构建': 6}, '回答B': {'计算基数主张': 5, '证据链构建': 9}}}",
    '[{"维度": "计算基数主张", "A": 8, "B": 5}, {"维度": "证据链构建", "A": 6, "B": 9}]',
    '{"计算基数主张": {"A": 8, "B": 5}, "证据链构建": {"a": {"score": 6}, "b": {"score": 9}}}',
    '{“A”：{“计算基数主张”：8，“证据链构建”：6}，“B”：{“计算基数主张”：5，“证据链构建”：9}}',
])
def test_judge_replies_are_read_in_many_shapes(reply):
    parsed = parse_verdict(reply, DIMS)
    assert (parsed.a["计算基数主张"], parsed.a["证据链构建"]) == (8, 6)
    assert (parsed.b["计算基数主张"], parsed.b["证据链构建"]) == (5, 9)
    assert parsed.a["用户角色定位"] is None


def test_judge_scores_are_clamped_and_nonsense_rejected():
    assert parse_verdict('{"A": {"计算基数主张": 15}, "B": {"计算基数主张": 0}}', DIMS).a["计算基数主张"] == 10
    with pytest.raises(JudgeParseError, match="no readable scores"):
        parse_verdict("两个回答都不错。{}", DIMS)


def test_rubric_text_is_parsed():
    assert parse_rubric("1. 准确性：事实正确\n- 完整性: 覆盖全面\n\n礼貌\n") == {
        "准确性": "事实正确", "完整性": "覆盖全面", "礼貌": ""}
    with pytest.raises(JudgeParseError):
        parse_rubric("\n  \n")


def test_judge_pair_and_table_through_a_judge_endpoint(tmp_path):
    reply = json.dumps({"A": {d: 6 for d in DIMS}, "B": {d: 8 for d in DIMS}, "理由": "B 给出了算式", "胜者": "B"},
                       ensure_ascii=False)
    for name in ("a", "b"):
        (tmp_path / name).write_text(json.dumps({"id": "x:0", "prompt": "加班费怎么算？", "predict": name,
                                                 "label": ""}, ensure_ascii=False) + "\n", encoding="utf-8")
    with FakeOpenAI(answer=reply) as fake:
        judge = ChatClient(fake.endpoint, "judge")
        verdict = judge_pair("加班费怎么算？", "答A", "答B", judge)
        assert "加班费怎么算？" in fake.requests[0]["messages"][0]["content"]
        verdicts = judge_predictions(str(tmp_path / "a"), str(tmp_path / "b"), judge)
    assert verdict.winner == "B" and verdict.reason == "B 给出了算式" and verdict.total_b == 56
    table = verdict_table(verdicts, "base", "lora")
    assert table[0] == {"维度": "计算基数主张", "base": 6, "lora": 8}
    assert table[-2] == {"维度": "总分", "base": 42, "lora": 56}
    assert table[-1] == {"维度": "胜出次数", "base": 0, "lora": 1}


# ---------------------------------------------------------------- CLI

def test_eval_cli_prints_and_writes_metrics(tmp_path, monkeypatch, capsys):
    data = alpaca(tmp_path, 3)
    with FakeOpenAI(answer="答案1") as fake:
        endpoints = {n: {"base_url": fake.endpoint.base_url, "model": "fake"} for n in ("base", "lora")}
        monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", json.dumps(endpoints))
        monkeypatch.setenv("LEGAL_RAG_DATA_DIR", str(tmp_path / "data"))
        get_settings.cache_clear()
        parser = argparse.ArgumentParser()
        eval_cli.add_cli(parser.add_subparsers())
        args = parser.parse_args(["eval", "--dataset", str(data), "--endpoint", "base", "--endpoint", "lora",
                                  "--max-samples", "2", "--max-new-tokens", "64", "--concurrency", "2"])
        try:
            assert args.run(args, get_settings()) == 0
        finally:
            get_settings.cache_clear()
        assert fake.requests[0]["max_tokens"] == 64
    out = capsys.readouterr().out
    assert "base: rouge-1=" in out and "lora: rouge-1=" in out
    metrics = json.loads((tmp_path / "data" / "eval" / "set" / ev.METRICS_FILE).read_text(encoding="utf-8"))
    assert metrics["base"]["n"] == 2 and metrics["base"]["bleu-4"] > 0


def test_eval_cli_reports_an_unknown_endpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEGAL_RAG_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    parser = argparse.ArgumentParser()
    eval_cli.add_cli(parser.add_subparsers())
    args = parser.parse_args(["eval", "--dataset", str(alpaca(tmp_path, 1)), "--endpoint", "nope"])
    try:
        assert args.run(args, get_settings()) == 1
    finally:
        get_settings.cache_clear()
    assert "No LLM endpoint named 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_rag_mode_sends_retrieved_articles(tmp_path, labor_kb):
    from rag.answer.budget import rag_messages
    from rag.retrieval.hybrid import HybridRetriever

    retriever = HybridRetriever(labor_kb, labor_kb.embedder)

    def build(question):
        found = retriever.retrieve(question, k=3)
        return rag_messages(question, found.citations, found.abstain)

    data = tmp_path / "legal.jsonl"
    data.write_text(json.dumps({"question": "劳动法第四十四条规定的加班工资是多少？", "answer": "150%"},
                               ensure_ascii=False), encoding="utf-8")
    with FakeOpenAI() as fake:
        ev.predict(load_samples(data), ChatClient(fake.endpoint, "fake"), tmp_path / "p.jsonl", build_messages=build)
        user = fake.requests[0]["messages"][-1]["content"]
    assert "《劳动法》第四十四条" in user and "百分之一百五十" in user
