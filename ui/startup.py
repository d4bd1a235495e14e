"""The first visit's progress: what a fresh app process does before a page can draw (import the
core, load the embedding model, open or build the knowledge base, start the local model), shown
step by step with a progress bar from the first render, instead of a bare page.

app.py calls `prepare(page_title)` before running the page. Each step runs once per process
(its parts are st.cache_resource factories or imported modules): a later visit finds them done
and draws nothing. A step that fails stops the preparation quietly; the page then meets the
same error and shows it in its own words.

Light to import on purpose: the core is imported inside the steps, after the box is on screen.
Does not: decide anything the pages do with these parts.
"""
from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ui.config import app_settings

Progress = Callable[[float, str], None]  # (fraction of the step, what it is doing)
HEADING = "**首次打开，正在准备…**（只在程序启动后的第一次访问时需要）"
# What the legal chat imports before it can draw, in the order that spreads the bar's steps.
CHAT_MODULES = ("rag.defaults", "ui.legal", "ui.chat", "ui.uploads", "ui.review")
PAGE_MODULES = ("rag.defaults", "ui.compare")


@dataclass(frozen=True)
class Step:
    key: str  # once done in this process, never shown again
    label: str  # 「正在加载向量模型…」 while it runs
    done: str  # 「向量模型已加载」 after
    run: Callable[[Progress], object]


_done: set[str] = set()
_lock = threading.Lock()


def modules_step(names: tuple[str, ...]) -> Step:
    def run(progress: Progress) -> None:
        for n, name in enumerate(names):
            progress(n / len(names), "")
            importlib.import_module(name)
    return Step("modules:" + ",".join(names), "正在加载程序…", "程序已加载", run)


def embedder_step() -> Step:
    return Step("embedder", "正在加载向量模型…", "向量模型已加载",
                lambda progress: importlib.import_module("ui.legal").library().embedder)


def kb_step(name: str) -> Step:
    return Step(f"kb:{name}", f"正在打开知识库「{name}」…（首次启动时从法规数据库构建，需几分钟）",
                f"知识库「{name}」已打开",
                lambda progress: importlib.import_module("ui.legal").knowledge_base(name, progress))


def model_step(endpoint: str, label: str, embedded: bool) -> Step:
    label = "正在启动本地模型…（首次启动时先拼合模型文件，约一分钟）" if embedded else f"正在连接模型服务「{label}」…"
    return Step(f"model:{endpoint}", label, "本地模型已启动" if embedded else "模型服务已连接",
                lambda progress: importlib.import_module("ui.compare").chat_client(endpoint))


def steps_for(page_title: str) -> list[Step]:
    """What a page needs before it draws: the chat everything, the KB page the embedder."""
    settings = app_settings()
    if page_title == "法律助手":
        steps = [modules_step(CHAT_MODULES), embedder_step(), kb_step(settings.default_kb)]
        names = sorted(settings.endpoints)  # the chat's choice: the default endpoint, else the first
        if names:
            name = settings.default_endpoint if settings.default_endpoint in names else names[0]
            endpoint = settings.endpoints[name]
            steps.append(model_step(name, endpoint.label or name, embedded=not endpoint.base_url))
        return steps
    if page_title == "知识库":
        return [modules_step(CHAT_MODULES), embedder_step()]
    return [modules_step(PAGE_MODULES)]


def prepare(page_title: str) -> None:
    """Run the page's steps not yet done in this process, each shown as it runs."""
    steps = [s for s in steps_for(page_title) if s.key not in _done]
    if not steps:
        return
    slot = st.empty()
    with slot.container(border=True):
        st.markdown(HEADING)
        checklist, bar = st.empty(), st.progress(0.0)
        took: dict[str, float] = {}
        for n, step in enumerate(steps):
            checklist.markdown(_checklist(steps, n, took))

            def progress(fraction: float, text: str, n: int = n, step: Step = step) -> None:
                bar.progress(min(1.0, (n + max(0.0, min(fraction, 1.0))) / len(steps)),
                             text=f"第 {n + 1}/{len(steps)} 步：{step.label}" + (f" {text}" if text else ""))

            progress(0.0, "")
            t0 = time.perf_counter()
            try:
                step.run(progress)
            except Exception:  # noqa: BLE001 - the page runs the same step next and shows its error
                break
            took[step.key] = time.perf_counter() - t0
            with _lock:
                _done.add(step.key)
    slot.empty()


def _checklist(steps: list[Step], current: int, took: dict[str, float]) -> str:
    lines = []
    for n, step in enumerate(steps):
        if n < current:
            lines.append(f"✅ {step.done}（{took[step.key]:.0f} 秒）")
        elif n == current:
            lines.append(f"⏳ **{step.label}**")
        else:
            lines.append(f"▫️ {step.label.split('…')[0].removeprefix('正在')}")
    return "\n\n".join(lines)
