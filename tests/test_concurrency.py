# Over 400 lines: the multi-process ingest/query races on both stores share one set of worker helpers.
"""Several processes on one knowledge base, on both stores (LanceDB folders and a real
PostgreSQL + pgvector, tests/pg.py): the proof that readers never see half a document, that a
writer killed with SIGKILL at any moment loses nothing committed and leaves nothing visible,
and that concurrent ingests of one file or into one new KB end in one consistent state.

Writers are the real CLI (`python -m rag ingest FILES --kb NAME`, rag.__main__.main) in child
processes, forked by tests/ingest_worker.py so each one starts in seconds instead of ~20 s;
readers are this process's own KnowledgeBases and HybridRetriever with the real embedder.
Statutes come from ../shared/data/statutes (small files: every article is embedded on 2 cores).

Each test prints what it saw (queries served, errors, kills, documents lost): `pytest -s`.
Does not: measure speed (bench/storage.py does), or test the storage contract row by row
(tests/test_store.py does).
"""
from __future__ import annotations

import json
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.ingest import ingest_file
from rag.kb import REFRESH_S, KnowledgeBase, KnowledgeBases, content_hash
from rag.retrieval.hybrid import HybridRetriever
from settings import get_settings
from tests.pg import pg_url  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
STATUTES = ROOT.parent / "shared" / "data" / "statutes"
MODELS_DIR = get_settings().models_dir  # read before anything points the data dir elsewhere
MAX_BYTES = 50 << 20
JOB_TIMEOUT_S = 300
QUERY_THREADS = 20
KILL_ROUNDS = 10
SEED = 20261130  # the kill moments are random, but the same on every run

# the smallest statutes (9–38 articles): every article is embedded on 2 shared cores
WORKING_HOURS = "working_hours_provisions_1995.txt"
LEAVE_REGS = "paid_annual_leave_regs_2007.txt"
LEAVE_MEASURES = "paid_annual_leave_measures_2008.txt"
FEMALE = "female_employee_protection_2012.txt"
SPC_III = "spc_labor_dispute_interpretation_III_2010_repealed.txt"
CONTRACT_REGS = "labor_contract_law_implementing_regs_2008.txt"
QUESTIONS = [
    "工作满一年不满十年的职工每年可以休几天年休假？", "单位不安排年休假要怎么补偿？", "女职工产假有多少天？",
    "怀孕的女职工可以被安排加班吗？", "职工每日工作时间不超过几小时？", "每周工作多少小时？",
    "用人单位不签劳动合同要付双倍工资吗？", "劳动争议仲裁的时效是多久？", "哺乳期女职工每天有哺乳时间吗？",
    "年休假可以跨年度安排吗？", "试用期可以约定多长时间？", "加班工资怎么计算？",
]
ADDED_RE = re.compile(r"^✓ (.+): (\d+) articles added \(doc (\w+)")


# ---------- the CLI in child processes ----------
class CliJob:
    def __init__(self, worker: "CliWorker", pid: int, stdout: Path, stderr: Path):
        self.worker, self.pid, self.stdout_path, self.stderr_path = worker, pid, stdout, stderr

    def wait(self, timeout: float = JOB_TIMEOUT_S) -> int:
        return self.worker.exit_code(self.pid, timeout)

    def done(self) -> bool:
        return self.worker.exit_code(self.pid, 0) is not None

    def kill(self) -> None:
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:  # it had finished (and was reaped) first
            pass

    @property
    def stdout(self) -> str:
        return _text(self.stdout_path)

    @property
    def stderr(self) -> str:
        return _text(self.stderr_path)

    def added(self) -> dict[str, tuple[str, int]]:
        """doc id → (file name, articles) of each file the CLI reported added."""
        out = {}
        for line in self.stdout.splitlines():
            m = ADDED_RE.match(line)
            if m:
                out[m.group(3)] = (Path(m.group(1)).name, int(m.group(2)))
        return out


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:  # the child has not opened it yet
        return ""


class CliWorker:
    """tests/ingest_worker.py: `start` forks a `python -m rag ...` child and returns at once."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.ingest_worker"], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._ready = threading.Event()  # set once its imports are done: this process loads meanwhile
        self._pids: queue.Queue[int] = queue.Queue()
        self._exits: dict[int, int] = {}
        self._changed = threading.Condition()
        self._start_lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            if "ready" in message:
                self._ready.set()
            elif "pid" in message:
                self._pids.put(message["pid"])
            elif "exit" in message:
                with self._changed:
                    self._exits[message["exit"]] = message["rc"]
                    self._changed.notify_all()

    def start(self, args: list[str], env: dict) -> CliJob:
        assert self._ready.wait(JOB_TIMEOUT_S), "tests/ingest_worker.py did not start (see its stderr)"
        tag = uuid.uuid4().hex[:8]
        out, err = self.folder / f"{tag}.out", self.folder / f"{tag}.err"
        with self._start_lock:
            self.proc.stdin.write(json.dumps({"argv": args, "env": env, "stdout": str(out), "stderr": str(err)}) + "\n")
            self.proc.stdin.flush()
            pid = self._pids.get(timeout=30)
        return CliJob(self, pid, out, err)

    def exit_code(self, pid: int, timeout: float) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits, timeout)
            return self._exits.get(pid)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    w = CliWorker(tmp_path_factory.mktemp("cli-jobs"))
    yield w
    w.close()


# ---------- one store, seen by this process and by CLI children ----------
@dataclass
class Target:
    kind: str
    data_dir: Path
    env: dict  # what a child CLI needs to open the same library
    pg_url: str | None = None
    schema: str | None = None

    def library(self, embedder) -> KnowledgeBases:
        """A newly opened library on the store (as another app process would open it)."""
        if self.kind == "lance":
            return KnowledgeBases(self.data_dir / "kbs", embedder)
        from rag.store.pg import PgLibrary

        return KnowledgeBases(PgLibrary(self.pg_url, self.schema, self.data_dir / "cache"), embedder)


@pytest.fixture(params=["lance", "postgres"])
def target(request, tmp_path) -> Target:
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(MODELS_DIR, target_is_directory=True)
    env = {"LEGAL_RAG_DATA_DIR": str(data), "LEGAL_RAG_DATABASE_URL": None, "LEGAL_RAG_DATABASE_SCHEMA": None,
           "LEGAL_RAG_VECTOR_URI": None}
    if request.param == "lance":
        yield Target("lance", data, env)
        return
    from tests.pg import drop_schema
    from rag.store.pg import PgLibrary

    url, schema = request.getfixturevalue("pg_url"), f"conc_{uuid.uuid4().hex[:10]}"
    yield Target("postgres", data, {**env, "LEGAL_RAG_DATABASE_URL": url, "LEGAL_RAG_DATABASE_SCHEMA": schema},
                 url, schema)
    drop_schema(PgLibrary(url, schema, data / "cache"))


def statute(name: str) -> Path:
    return STATUTES / name


def seed(kb: KnowledgeBase, names: list[str]) -> None:
    for name in names:
        assert not ingest_file(kb, statute(name).read_bytes(), name, MAX_BYTES).skipped


def ingest_args(names: list[str], kb: str) -> list[str]:
    return ["ingest", *(str(statute(n)) for n in names), "--kb", kb]


def whole_documents(kb: KnowledgeBase) -> dict[str, str]:
    """Read the store as a reader does and check it holds whole documents only: every article
    row belongs to a committed document, each document has exactly n_articles rows, no row id
    or content hash twice. Returns content hash → doc id."""
    state = kb.store.read()
    per_doc = Counter(r["doc_id"] for r in state.rows)
    docs = {d.doc_id: d for d in state.documents}
    assert set(per_doc) <= set(docs), f"articles of uncommitted documents: {set(per_doc) - set(docs)}"
    assert {d: per_doc.get(d, 0) for d in docs} == {d: docs[d].n_articles for d in docs}
    ids = [r["id"] for r in state.rows]
    assert len(ids) == len(set(ids)), "an article row id stored twice"
    hashes = [d.content_hash for d in state.documents]
    assert len(hashes) == len(set(hashes)), "one content hash stored as two documents"
    return {d.content_hash: d.doc_id for d in state.documents}


def file_hash(name: str) -> str:
    return content_hash(statute(name).read_bytes())


def report(title: str, **figures) -> None:
    print(f"\n[{title}] " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


# ---------- a) queries while another process ingests ----------
@pytest.mark.slow
def test_queries_while_another_process_ingests(target, worker, embedder):
    name = "并发查询"
    seeded, added_by_child = [WORKING_HOURS, LEAVE_REGS], [LEAVE_MEASURES, FEMALE, SPC_III]
    kb = target.library(embedder).create(name)
    seed(kb, seeded)
    retriever = HybridRetriever(kb, embedder)
    seeded_docs = {d.doc_id for d in kb.documents()}

    results: list[list[tuple]] = []
    errors: list[str] = []
    stop = threading.Event()

    def ask(start: int) -> None:
        n = start
        while not stop.is_set():
            question = QUESTIONS[n % len(QUESTIONS)]
            n += 1
            try:
                found = retriever.retrieve(question, k=8)
            except Exception:  # noqa: BLE001 - counted and shown, the test fails on any
                errors.append(traceback.format_exc())
                continue
            results.append([(c.article.doc_id, c.article.article_cn, c.article.article_suffix, c.article.article_id,
                             c.article.law_title, c.article.text) for c in found.citations])

    job = worker.start(ingest_args(added_by_child, name), target.env)
    threads = [threading.Thread(target=ask, args=(n,)) for n in range(QUERY_THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    rc = job.wait()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    seconds = time.perf_counter() - t0

    assert rc == 0, job.stdout + job.stderr
    assert "Traceback" not in job.stderr, job.stderr
    assert not errors, f"{len(errors)} queries failed; the first:\n{errors[0]}"
    assert results

    added = job.added()
    assert sorted(f for f, _ in added.values()) == sorted(added_by_child), job.stdout
    time.sleep(REFRESH_S + 0.1)  # the long-lived KB notices other writers within REFRESH_S
    assert set(added) <= {d.doc_id for d in kb.documents()}
    fresh = target.library(embedder).open_stored(name)
    assert {d.doc_id for d in fresh.documents()} == {d.doc_id for d in kb.documents()} == seeded_docs | set(added)
    assert len(kb.documents()) == len(seeded) + len(added_by_child)
    whole_documents(fresh)
    assert {d.doc_id: d.n_articles for d in fresh.documents() if d.doc_id in added} == \
        {doc: n for doc, (_, n) in added.items()}

    # every citation served during the ingest is the article stored under its id, once per result
    stored: dict[tuple, set[str]] = {}
    for r in kb.store.read().rows:
        stored.setdefault((r["doc_id"], r["article_cn"], r["article_suffix"], r["law_title"]), set()).add(r["text"])
    bad = [c for res in results for c in res if c[5] not in stored.get((c[0], c[1], c[2], c[4]), ())]
    twice = [res for res in results if len({c[3] for c in res}) != len(res) or len(set(res)) != len(res)]
    assert not bad, f"{len(bad)} citations differ from the stored article, e.g. {bad[0][:4]}"
    assert not twice, f"{len(twice)} results cite one article twice"
    citing_new = sum(any(c[0] in added for c in res) for res in results)
    report(f"{target.kind}: queries during another process's ingest", queries=len(results), errors=len(errors),
           seconds=round(seconds, 1), queries_citing_new_docs=citing_new, inconsistent_citations=len(bad),
           docs_added_by_child=len(added), docs_visible=len(kb.documents()))


# ---------- b) kill -9 at random moments ----------
KILL_POOL = [LEAVE_REGS, LEAVE_MEASURES, FEMALE, SPC_III, CONTRACT_REGS]
PHASES = ("startup", "parse", "embed", "write")


def progress_line(job: CliJob, index: int, total: int, marker: str) -> bool:
    return any(f"] {index + 1}/{total} " in line and marker in line for line in job.stderr.splitlines())


def kill_at(job: CliJob, phase: str, index: int, total: int, rng: random.Random) -> bool:
    """SIGKILL the job in `phase` of its file `index`; False when it had finished first.
    startup: while it loads the KB; parse: as it starts reading the file; embed: while the
    file's articles are embedded; write: just after the last embedding batch (the store's add)."""
    if phase == "startup":
        deadline = time.monotonic() + rng.uniform(0.0, 1.5)
        marker = None
    else:
        marker = "向量化" if phase == "write" else "读取"
        deadline = None
    while deadline is None:
        if job.done():
            return False
        if progress_line(job, index, total, marker):
            deadline = time.monotonic() + {"parse": rng.uniform(0.0, 0.05), "embed": rng.uniform(0.3, 1.5),
                                           "write": rng.uniform(0.0, 0.15)}[phase]
        else:
            time.sleep(0.005)
    while time.monotonic() < deadline:
        time.sleep(0.002)
    if job.done():
        return False
    job.kill()
    return True


@pytest.mark.slow
def test_kill_9_during_ingest_loses_nothing(target, worker, embedder):
    name = "断电"
    rng = random.Random(SEED)
    kb = target.library(embedder).create(name)
    seed(kb, [WORKING_HOURS])
    known = whole_documents(kb)
    phases, kills, finished_first, recovered, committed_by_killed = Counter(), 0, 0, 0, 0
    for _ in range(KILL_ROUNDS):
        fresh = [f for f in KILL_POOL if file_hash(f) not in known]
        files = rng.sample(fresh, min(3, len(fresh)))
        files += rng.sample([f for f in KILL_POOL if f not in files], max(0, 2 - len(files)))  # pool used up
        phase = rng.choice(PHASES)
        index = rng.choices(range(len(files)), weights=[3, 2, 1][:len(files)])[0]
        job = worker.start(ingest_args(files, name), target.env)
        killed = kill_at(job, phase, index, len(files), rng)
        code = job.wait()
        if killed and code == -9:
            kills += 1
            phases[phase] += 1
        else:  # it finished first (also between kill_at's last look and its SIGKILL)
            assert code == 0, job.stdout + job.stderr
            finished_first += 1

        # a reader that never writes (no recovery) sees whole documents only, none lost
        reader = target.library(embedder).open_stored(name)
        now = whole_documents(reader)
        assert set(known) <= set(now), f"documents lost: {set(known) - set(now)}"
        assert set(now) <= {file_hash(f) for f in [WORKING_HOURS, *KILL_POOL]}
        # the long-lived KB object too, at its next refresh
        snap = kb.snapshot(fresh=True)
        assert Counter(a.doc_id for a in snap.articles) == Counter({d.doc_id: d.n_articles for d in snap.documents})
        # a writer recovers what the killed one left half-written, and loses nothing either
        with reader.store.writing():
            recovered += reader.store.recover()
        with reader.writing():  # what every KB write does first
            pass
        after = whole_documents(reader)
        assert after == now
        committed_by_killed += len(set(now) - set(known))
        known = now

    final = worker.start(ingest_args(KILL_POOL, name), target.env)
    assert final.wait() == 0, final.stdout + final.stderr
    assert "Traceback" not in final.stderr
    end = whole_documents(target.library(embedder).open_stored(name))
    assert set(end) == {file_hash(f) for f in [WORKING_HOURS, *KILL_POOL]}
    assert set(known) <= set(end)
    report(f"{target.kind}: kill -9 during ingest", rounds=KILL_ROUNDS, kills=kills, finished_before_kill=finished_first,
           phases=dict(phases), docs_committed_in_killed_rounds=committed_by_killed,
           half_written_rows_recovered=recovered, docs_lost=0, final_docs=len(end), duplicates=0)


# ---------- c) one file by two processes, two first ingests into one new KB ----------
@pytest.mark.slow
def test_two_processes_one_file_and_one_new_kb(target, worker, embedder):
    name = "同时新建"
    first = worker.start(ingest_args([WORKING_HOURS, LEAVE_REGS], name), target.env)
    second = worker.start(ingest_args([WORKING_HOURS, LEAVE_MEASURES], name), target.env)
    for job in (first, second):
        assert job.wait() == 0, job.stdout + job.stderr
        assert "Traceback" not in job.stderr, job.stderr
    kb = target.library(embedder).open_stored(name)
    stored = whole_documents(kb)
    assert set(stored) == {file_hash(f) for f in (WORKING_HOURS, LEAVE_REGS, LEAVE_MEASURES)}
    same = [job for job in (first, second) if any(f == WORKING_HOURS for f, _ in job.added().values())]
    assert len(same) == 1, "the shared file was added by both processes"
    other = second if same[0] is first else first
    assert f"{WORKING_HOURS}: unchanged" in other.stdout
    report(f"{target.kind}: two processes, one new KB and one shared file", exit_codes="0,0", documents=len(stored),
           shared_file_documents=1, tracebacks=0)
