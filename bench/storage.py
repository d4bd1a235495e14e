"""Storage benchmark: the LanceDB and the PostgreSQL + pgvector store side by side at
lawrefbook scale (65,077 articles of 1,561 documents), in one process.

    python bench/storage.py [--limit-docs N] [--stores lance postgres] [--no-load]

Rows and their vectors (the trained legal-e5-small's, computed on a GPU) come from the local
bench KB data/bench/kbs/bench-lawrefbook-legal-e5-small-6a0a5888, read with LanceDB and never
written. For each store, on a temp dir (PostgreSQL: a pgserver instance started here):

1. ingest: every document through KnowledgeBase.add_articles(vectors=...) inside kb.bulk()
   (jieba tokens, the store's writes), then the snapshot + BM25 build when bulk() ends, then
   kb.optimize() (compaction; the ANN index: IVF_HNSW_SQ in LanceDB, HNSW in pgvector). The
   embedder is not part of it.
2. queries: the 297 STARD dev questions through HybridRetriever.retrieve (hybrid, k=8) and the
   store's dense search alone (query vectors computed once, k=50 as in fusion): p50/p95 ms, and
   Hit@1/Hit@5 of the gold articles (bench/retrieval.py's matching).
3. cold start: a fresh `python -c` process opens the KB through the settings
   (LEGAL_RAG_DATA_DIR, LEGAL_RAG_DATABASE_URL) and answers one question.
4. load + fault: 20 query threads while another process (this script, --add-held-out) adds 20
   documents held out of step 1 with their vectors: queries served, errors, documents lost.

Prints a Markdown table, both stores side by side with the ratio postgres/lance.
Does not: embed articles (bench/retrieval.py measures that), or test concurrency semantics
(tests/test_concurrency.py does).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rag.eval.metrics import percentile  # noqa: E402
from rag.kb import _ARTICLE_FIELDS, KnowledgeBases, _from_db  # noqa: E402
from rag.types import Article  # noqa: E402

SOURCE_KB = ROOT / "data" / "bench" / "kbs" / "bench-lawrefbook-legal-e5-small-6a0a5888"
QUESTIONS = ROOT.parent / "shared" / "data" / "eval" / "stard_lecoqa_dev.jsonl"
KB_NAME = "lawrefbook"
SCHEMA = "bench"
K = 8
DENSE_K = 50  # what HybridRetriever asks the store for (rag.retrieval.hybrid.CANDIDATES)
HELD_OUT = 20  # documents added by another process during the load run
HELD_OUT_MAX_ARTICLES = 40
LOAD_THREADS = 20
SEED = 7


# ---------- source rows ----------
def source_documents(limit: int | None) -> list[dict]:
    """[{doc: DocumentInfo fields, articles: [Article], vectors: [[float]]}] in added order."""
    import lancedb
    import numpy as np

    db = lancedb.connect(str(SOURCE_KB / "lance"))
    docs = sorted(db.open_table("documents").to_arrow().to_pylist(), key=lambda d: (d["added_at"], d["doc_id"]))
    if limit:
        docs = docs[:limit]
    wanted = {d["doc_id"] for d in docs}
    table = db.open_table("articles").to_arrow()
    vectors = table.column("vector").combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)
    by_doc: dict[str, list[tuple[int, dict, list[float]]]] = {}
    for n, row in enumerate(table.drop_columns(["vector"]).to_pylist()):
        if row["doc_id"] in wanted:
            by_doc.setdefault(row["doc_id"], []).append((row["seq"], row, vectors[n].astype(np.float32).tolist()))
    out = []
    for d in docs:
        rows = sorted(by_doc.get(d["doc_id"], []), key=lambda x: x[0])
        out.append({"doc": d, "articles": [Article(kb=KB_NAME, **{k: _from_db(k, r[k]) for k in _ARTICLE_FIELDS})
                                           for _, r, _ in rows],
                    "vectors": [v for _, _, v in rows]})
    return out


def add_documents(kb, documents: list[dict]) -> int:
    n = 0
    for d in documents:
        doc = d["doc"]
        if not kb.add_articles(d["articles"], doc["file_name"], doc["content_hash"], doc["source"],
                               d["vectors"]).skipped:
            n += 1
    return n


# ---------- the stores ----------
class StoreUnderTest:
    def __init__(self, kind: str, folder: Path):
        self.kind, self.folder = kind, folder
        self.data_dir = folder / "data"
        self.data_dir.mkdir(parents=True)
        from settings import get_settings

        (self.data_dir / "models").symlink_to(get_settings().models_dir, target_is_directory=True)
        self.env = {**os.environ, "LEGAL_RAG_DATA_DIR": str(self.data_dir)}
        self.env.pop("LEGAL_RAG_DATABASE_URL", None)
        self.server = None
        if kind == "postgres":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pgserver

                self.server = pgserver.get_server(folder / "pgdata", cleanup_mode="stop")
            self.url = self.server.get_uri()
            self.env.update(LEGAL_RAG_DATABASE_URL=self.url, LEGAL_RAG_DATABASE_SCHEMA=SCHEMA)

    def library(self, embedder) -> KnowledgeBases:
        if self.kind == "lance":
            return KnowledgeBases(self.data_dir / "kbs", embedder)
        from rag.store.pg import PgLibrary

        return KnowledgeBases(PgLibrary(self.url, SCHEMA, self.data_dir / "cache"), embedder)

    def close(self) -> None:
        if self.server is not None:
            self.server.cleanup()


# ---------- measurements ----------
def query_run(kb, embedder, rows: list[dict], query_vectors: list[list[float]]) -> dict:
    from rag.retrieval.hybrid import HybridRetriever
    from retrieval import gold_keys, score_run

    retriever = HybridRetriever(kb, embedder)
    retriever.retrieve("预热")
    lat, ranked = [], []
    for r in rows:
        t = time.perf_counter()
        res = retriever.retrieve(r["question"], k=K)
        lat.append((time.perf_counter() - t) * 1000)
        ranked.append([(c.article.law_title, c.article.article_no, c.article.text) for c in res.citations])
    scores = score_run(ranked, [gold_keys(r["gold_articles"]) for r in rows])
    snap = kb.snapshot()
    dense = []
    for v in query_vectors:
        t = time.perf_counter()
        snap.dense_search(v, DENSE_K)
        dense.append((time.perf_counter() - t) * 1000)
    return {"hybrid_p50_ms": percentile(lat, 50), "hybrid_p95_ms": percentile(lat, 95),
            "dense_p50_ms": percentile(dense, 50), "dense_p95_ms": percentile(dense, 95),
            "hit@1": scores["hit@1"], "hit@5": scores["hit@5"]}


def cold_start(store: StoreUnderTest, question: str) -> dict:
    code = ("import time; t0=time.perf_counter();"
            "from rag.defaults import library_from, retriever_from;"
            "from settings import get_settings; t1=time.perf_counter();"
            f"s=get_settings(); kb=library_from(s).open({KB_NAME!r});"
            f"r=retriever_from(s, kb).retrieve({question!r}); t2=time.perf_counter();"
            "assert r.citations; print(round(t1-t0,2), round(t2-t1,2))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=store.env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"cold start on {store.kind} failed:\n{out.stderr[-3000:]}")
    imports, open_query = map(float, out.stdout.split()[-2:])
    return {"cold_imports_s": imports, "cold_open_first_query_s": open_query}


def load_run(kb, embedder, store: StoreUnderTest, rows: list[dict], held_out: list[dict], limit: int) -> dict:
    from rag.retrieval.hybrid import HybridRetriever

    retriever = HybridRetriever(kb, embedder)
    before = {d.doc_id for d in kb.store.documents()}
    served, errors, lat = [0], [], []
    stop = threading.Event()

    def ask(start: int) -> None:
        n = start
        while not stop.is_set():
            q = rows[n % len(rows)]["question"]
            n += 1
            t = time.perf_counter()
            try:
                retriever.retrieve(q, k=K)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(e).__name__}: {e}")
                continue
            lat.append((time.perf_counter() - t) * 1000)
            served[0] += 1

    env = {**store.env}
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--add-held-out", store.kind,
                              "--limit-docs", str(limit)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    threads = [threading.Thread(target=ask, args=(n,)) for n in range(LOAD_THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    out, err = child.communicate()
    stop.set()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    for e in sorted(set(errors))[:5]:
        print(f"  {store.kind}: query error under load: {e[:500]}", file=sys.stderr, flush=True)
    if child.returncode:
        raise SystemExit(f"the adding process failed on {store.kind}:\n{err[-3000:]}")
    fresh = store.library(embedder).open_stored(KB_NAME)
    state = fresh.store.read()
    after = {d.doc_id for d in state.documents}
    wanted = {d["doc"]["doc_id"] for d in held_out}
    per_doc: dict[str, int] = {}
    for r in state.rows:
        per_doc[r["doc_id"]] = per_doc.get(r["doc_id"], 0) + 1
    half = sum(per_doc.get(d.doc_id, 0) != d.n_articles for d in state.documents)
    return {"load_queries": served[0], "load_errors": len(errors), "load_s": round(seconds, 1),
            "load_p50_ms": percentile(lat, 50) if lat else 0.0, "load_p95_ms": percentile(lat, 95) if lat else 0.0,
            "docs_added_meanwhile": len(wanted & after), "docs_lost": len(before - after) + len(wanted - after),
            "half_documents": half, "child_says": out.strip().splitlines()[-1] if out.strip() else ""}


def held_out_split(documents: list[dict]) -> tuple[list[dict], list[dict]]:
    small = [d for d in documents if 0 < len(d["articles"]) <= HELD_OUT_MAX_ARTICLES]
    held = random.Random(SEED).sample(small, min(HELD_OUT, len(small)))
    ids = {d["doc"]["doc_id"] for d in held}
    return [d for d in documents if d["doc"]["doc_id"] not in ids], held


def add_held_out(kind: str, limit: int | None) -> None:
    """The other process of the load run: add the held-out documents to the KB the settings name."""
    from rag.defaults import store_from
    from settings import get_settings

    _, held = held_out_split(source_documents(limit))
    library = KnowledgeBases(store_from(get_settings()), embedder=lambda: None)  # vectors are given
    kb = library.open_stored(KB_NAME)
    t = time.perf_counter()
    with kb.bulk():
        n = add_documents(kb, held)
    print(f"{kind}: {n} documents added in {time.perf_counter() - t:.1f} s")


def bench_store(kind: str, documents: list[dict], held_out: list[dict], rows: list[dict], query_vectors, embedder,
                limit: int | None, load: bool) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"storage-bench-{kind}-"))
    store = StoreUnderTest(kind, folder)
    try:
        library = store.library(embedder)
        kb = library.create(KB_NAME)
        t0 = time.perf_counter()
        with kb.bulk():
            t_add = time.perf_counter()
            add_documents(kb, documents)
            add_s = time.perf_counter() - t_add
            t_snap = time.perf_counter()
        snapshot_s = time.perf_counter() - t_snap
        t_opt = time.perf_counter()
        kb.optimize()
        optimize_s = time.perf_counter() - t_opt
        result = {"documents": len(kb.documents()), "articles": len(kb.articles), "add_s": add_s,
                  "snapshot_bm25_s": snapshot_s, "optimize_s": optimize_s, "ingest_total_s": time.perf_counter() - t0,
                  "size_mb": library.store.size_mb(KB_NAME)}
        print(f"  {kind}: ingest {result['ingest_total_s']:.1f} s", file=sys.stderr, flush=True)
        result.update(query_run(kb, embedder, rows, query_vectors))
        print(f"  {kind}: queries done", file=sys.stderr, flush=True)
        result.update(cold_start(store, rows[0]["question"]))
        if load:
            result.update(load_run(kb, embedder, store, rows, held_out, limit or 0))
        return result
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


ROWS = [("documents", "documents", "{:.0f}"), ("articles", "articles", "{:.0f}"),
        ("add_s", "ingest: add_articles, all documents (s)", "{:.1f}"),
        ("snapshot_bm25_s", "ingest: snapshot + BM25 build (s)", "{:.1f}"),
        ("optimize_s", "ingest: optimize / ANN index (s)", "{:.1f}"),
        ("ingest_total_s", "ingest: total (s)", "{:.1f}"), ("size_mb", "stored size (MB)", "{:.0f}"),
        ("hybrid_p50_ms", "hybrid query p50 (ms)", "{:.1f}"), ("hybrid_p95_ms", "hybrid query p95 (ms)", "{:.1f}"),
        ("dense_p50_ms", "dense search alone p50 (ms)", "{:.1f}"),
        ("dense_p95_ms", "dense search alone p95 (ms)", "{:.1f}"),
        ("hit@1", "Hit@1 (STARD dev)", "{:.3f}"), ("hit@5", "Hit@5 (STARD dev)", "{:.3f}"),
        ("cold_imports_s", "cold start: imports (s)", "{:.1f}"),
        ("cold_open_first_query_s", "cold start: open KB + embedder + 1st query (s)", "{:.1f}"),
        ("load_queries", "load: queries served by 20 threads", "{:.0f}"), ("load_s", "load: seconds", "{:.1f}"),
        ("load_p50_ms", "load: query p50 (ms)", "{:.0f}"), ("load_p95_ms", "load: query p95 (ms)", "{:.0f}"),
        ("load_errors", "load: query errors", "{:.0f}"),
        ("docs_added_meanwhile", "load: documents added by the other process", "{:.0f}"),
        ("docs_lost", "load: documents lost", "{:.0f}"), ("half_documents", "load: half documents", "{:.0f}")]


def table(results: dict[str, dict]) -> str:
    kinds = list(results)
    lines = [f"| | {' | '.join(kinds)} |" + (" postgres/lance |" if len(kinds) == 2 else ""),
             "|---|" + "---:|" * (len(kinds) + (len(kinds) == 2))]
    for key, label, fmt in ROWS:
        if not all(key in results[k] for k in kinds):
            continue
        cells = [fmt.format(results[k][key]) for k in kinds]
        if len(kinds) == 2:
            a, b = results["lance"][key], results["postgres"][key]
            ratio = f"{b / a:.2f}" if a and key not in ("documents", "articles") and "errors" not in key \
                and "lost" not in key and "half" not in key and "added" not in key else ""
            cells.append(ratio)
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit-docs", type=int, default=0, help="first N documents of the source KB (0: all)")
    ap.add_argument("--stores", nargs="+", choices=("lance", "postgres"), default=["lance", "postgres"])
    ap.add_argument("--no-load", action="store_true", help="skip the load + fault run")
    ap.add_argument("--add-held-out", metavar="STORE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    limit = args.limit_docs or None
    if args.add_held_out:
        add_held_out(args.add_held_out, limit)
        return

    from rag.defaults import embedder_from
    from rag.kb import embedder_id
    from settings import get_settings

    embedder = embedder_from(get_settings())
    stored = json.loads((SOURCE_KB / "kb.json").read_text())["embedder"]
    if stored != embedder_id(embedder):
        raise SystemExit(f"{SOURCE_KB.name} holds {stored} vectors, the configured embedder is {embedder_id(embedder)}")
    t = time.perf_counter()
    documents, held_out = held_out_split(source_documents(limit))
    rows = [r for r in map(json.loads, QUESTIONS.read_text().splitlines()) if r.get("stard_split") == "dev"]
    query_vectors = [embedder.get_query_embedding(r["question"]) for r in rows]
    print(f"source: {len(documents)} documents ({sum(len(d['articles']) for d in documents)} articles) + "
          f"{len(held_out)} held out for the load run; {len(rows)} dev questions; read in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    results = {}
    for kind in args.stores:
        results[kind] = bench_store(kind, documents, held_out, rows, query_vectors, embedder, limit, not args.no_load)
        print(json.dumps({kind: results[kind]}, ensure_ascii=False), flush=True)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
