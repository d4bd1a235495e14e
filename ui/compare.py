"""Streamlit helpers for pages that put models side by side: a cached chat client per
endpoint name, and several answers streaming at once into columns.

`app_settings()` (ui/config.py, where the app reads its settings) is importable from here too.

The streams are read in worker threads that only touch the network; every Streamlit call
happens in the script thread, which drains their queue. `server_error_text` says a server
error in the page's language (a crash in Chinese, with its signal and log tail).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

import streamlit as st

from rag.answer.conversation import Reply
from rag.assistant import add
from rag.defaults import chat_client_from
from server.client import ChatClient, Delta
from server.crashes import non_portable, reinstall_hint
from server.errors import ServerCrashed, ServerError
from ui.attribution import hard_breaks
from ui.config import app_settings  # the pages import it from here too

REASONING_LABEL = "推理过程"
_DONE = object()


@st.cache_resource(show_spinner="正在连接模型服务…")
def chat_client(name: str) -> ChatClient:
    """The client for an endpoint name in settings; starts the embedded server if needed."""
    return chat_client_from(app_settings(), name)


def health_text(label: str, status: str) -> str:
    """The sidebar's line for the chosen endpoint: 「✅ 内置 CPU 模型：服务正常」."""
    if status == "ok":
        return f"✅ {label}：服务正常"
    return f"⚠️ {label}：部分副本可用（{status}）"


def server_error_text(e: ServerError) -> str:
    """What st.error shows for a server error: a crash said in Chinese (what died, how, what
    was kept, what happens next, the log's last lines); other errors as they are."""
    if not isinstance(e, ServerCrashed):
        return str(e)
    if e.again:
        text = f"模型服务重启后再次崩溃（crashed again after a restart: {e.cause}）。"
    elif e.during == "check":
        text = f"模型服务已崩溃（{e.cause}），下一次提问时会自动重启。"
    else:
        text = f"模型服务在回答途中崩溃（{e.cause}）。"
    if e.partial or e.reasoning:
        text += "上面是崩溃前收到的部分回答，回答不完整。" + ("" if e.again else "下一个问题会自动重启服务。")
    elif e.again:
        text += "这次没有得到回答；下面的检索结果仍可参考。"
    if e.illegal_instruction:
        compiled = "、".join(non_portable())
        text += ("\n\n原因：当前安装的 llama.cpp（llama-cpp-python）使用了本机 CPU 不允许的指令"
                 + (f"（{compiled}）" if compiled else "") + "，重启后多半还会同样崩溃。请按下面的命令重新安装：\n"
                 f"```\n{reinstall_hint()}\n```")
    if e.log_tail and e.during != "check":  # the sidebar says what happened; the answer shows the log
        text += f"\n\n服务日志最后几行（{e.log_path}）：\n```\n{e.log_tail}\n```"
    return text


def endpoint_label(name: str) -> str:
    """What a selectbox shows for an endpoint name: its label in settings (「内置 CPU 模型（llama.cpp）」),
    with the name beside it where two endpoints share a label; the name when it has none."""
    endpoints = app_settings().endpoints
    label = endpoints[name].label if name in endpoints else ""
    if not label:
        return name
    shared = sum(e.label == label for e in endpoints.values()) > 1
    return f"{label}（{name}）" if shared else label


def endpoint_index(names: list[str], preferred: str, fallback: int = 0) -> int:
    """Index of `preferred` in names (for a selectbox default), else `fallback` clamped."""
    if preferred in names:
        return names.index(preferred)
    return min(fallback, max(len(names) - 1, 0))


class Columns:
    """One column per title, each with slots for a note, the reasoning (collapsed), the answer
    and an error, filled as deltas arrive (only from the script thread)."""

    def __init__(self, titles: list[str], show_titles: bool = True):
        self.panes, self.details = {}, {}
        for column, title in zip(st.columns(len(titles)), titles):
            with column:
                if show_titles:
                    st.markdown(f"**{title}**")
                self.panes[title] = (st.empty(), st.empty(), st.empty(), st.empty())  # note, details, answer, error

    def show(self, title: str, reply: Reply, delta: Delta) -> None:
        """Draw what `delta` changed in `reply` (already added to it)."""
        note_slot, details_slot, answer_slot, _ = self.panes[title]
        if delta.kind == "note":
            note_slot.caption(reply.note)
        elif delta.kind == "reasoning":
            if title not in self.details:
                self.details[title] = details_slot.expander(REASONING_LABEL, expanded=False).empty()
            self.details[title].markdown(reply.reasoning)
        else:
            answer_slot.markdown(hard_breaks(reply.answer))

    def finish(self, title: str, reply: Reply) -> None:
        if reply.error:
            self.panes[title][3].error(reply.error)
        elif not reply.answer:
            self.panes[title][2].caption("（回答为空）")


def stream_side_by_side(streams: dict[str, Callable[[], Iterator[Delta]]],
                        show_titles: bool = True) -> dict[str, Reply]:
    """One column per title; each callable is started in its own thread and its answer
    rendered live, reasoning in a collapsed expander, a note as a caption above the answer,
    errors with st.error. (The legal chat streams through rag.assistant instead.)"""
    columns = Columns(list(streams), show_titles)
    results = {title: Reply() for title in streams}
    events: queue.Queue = queue.Queue()

    def pump(title: str, start: Callable[[], Iterator[Delta]]) -> None:
        try:
            for delta in start():
                events.put((title, delta))
            events.put((title, _DONE))
        except Exception as e:  # noqa: BLE001 - shown in the column, never a traceback
            events.put((title, e))

    for title, start in streams.items():
        threading.Thread(target=pump, args=(title, start), daemon=True).start()
    running, t0 = len(streams), time.perf_counter()
    while running:
        title, item = events.get()
        if isinstance(item, Delta):
            add(results[title], item, t0)
            columns.show(title, results[title], item)
            continue
        running -= 1
        if item is not _DONE:
            results[title].error = server_error_text(item) if isinstance(item, ServerError) \
                else f"意外错误 / unexpected error: {item!r}"
        columns.finish(title, results[title])
    return results
