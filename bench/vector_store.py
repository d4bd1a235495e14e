"""Vector store choice: Milvus Lite vs LanceDB at the lawrefbook scale, in one process.

    python bench/vector_store.py [--rows 65000] [--dim 384] [--queries 50]

Same unit vectors (the size of multilingual-e5-small embeddings of every lawrefbook
article), same queries, top-50 cosine search as the retriever asks for. Prints insert
time, index build, search p50/p95 and cold open + first search for each engine and the
ratio LanceDB / Milvus Lite. Needs `pymilvus[milvus-lite]` (requirements-dev.txt).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rag.eval.metrics import percentile  # noqa: E402

TOP_K = 50
BATCH = 5000


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def pcts(lat: list[float]) -> tuple[float, float]:
    return percentile(lat, 50) * 1000, percentile(lat, 95) * 1000


def bench_milvus(folder: Path, X: np.ndarray, Q: np.ndarray) -> dict:
    from pymilvus import MilvusClient

    uri = str(folder / "milvus.db")
    client = MilvusClient(uri)
    client.create_collection("arts", dimension=X.shape[1], metric_type="COSINE", auto_id=False,
                             id_type="string", max_length=64)
    insert_s, _ = timed(lambda: [client.insert("arts", [{"id": f"n{j}", "vector": X[j].tolist()}
                                                        for j in range(i, min(len(X), i + BATCH))])
                                 for i in range(0, len(X), BATCH)])
    client.release_collection("arts")
    client.drop_index("arts", "vector")
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type="IVF_FLAT", metric_type="COSINE", params={"nlist": 256})
    index_s, _ = timed(lambda: (client.create_index("arts", params), client.load_collection("arts")))
    lat = [timed(lambda q=q: client.search("arts", [q.tolist()], limit=TOP_K,
                                           search_params={"params": {"nprobe": 16}}))[0] for q in Q]
    client.close()
    cold_s, _ = timed(lambda: (lambda c: (c.load_collection("arts"),
                                          c.search("arts", [Q[0].tolist()], limit=TOP_K)))(MilvusClient(uri)))
    return {"insert_s": insert_s, "index_s": index_s, "p50_ms": pcts(lat)[0], "p95_ms": pcts(lat)[1], "cold_s": cold_s}


def bench_lance(folder: Path, X: np.ndarray, Q: np.ndarray) -> dict:
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(str(folder / "lance"))

    def insert():
        table = None
        for i in range(0, len(X), BATCH):
            chunk = X[i:i + BATCH]
            data = pa.table({"id": [f"n{j}" for j in range(i, i + len(chunk))],
                             "vector": pa.FixedSizeListArray.from_arrays(pa.array(chunk.ravel()), X.shape[1])})
            table = db.create_table("arts", data) if table is None else table.add(data) or table
        return table

    insert_s, table = timed(insert)
    index_s, _ = timed(lambda: table.create_index(metric="cosine", vector_column_name="vector",
                                                  index_type="IVF_HNSW_SQ", replace=True))
    lat = [timed(lambda q=q: table.search(q).metric("cosine").limit(TOP_K).select(["id"]).to_list())[0]
           for q in Q]
    cold_s, _ = timed(lambda: lancedb.connect(str(folder / "lance")).open_table("arts").search(Q[0])
                      .metric("cosine").limit(TOP_K).to_list())
    return {"insert_s": insert_s, "index_s": index_s, "p50_ms": pcts(lat)[0], "p95_ms": pcts(lat)[1], "cold_s": cold_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=65_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = X[rng.choice(args.rows, args.queries, replace=False)]
    folder = Path(tempfile.mkdtemp(prefix="vs-bench-"))
    try:
        results = {"Milvus Lite (IVF_FLAT)": bench_milvus(folder, X, Q),
                   "LanceDB (IVF_HNSW_SQ)": bench_lance(folder, X, Q)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.rows} rows × {args.dim} dims, {args.queries} queries, top {TOP_K}")
    print(f"{'engine':24} {'insert s':>9} {'index s':>8} {'p50 ms':>7} {'p95 ms':>7} {'cold s':>7}")
    for name, r in results.items():
        print(f"{name:24} {r['insert_s']:9.1f} {r['index_s']:8.1f} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f} {r['cold_s']:7.2f}")
    m, lance = results["Milvus Lite (IVF_FLAT)"], results["LanceDB (IVF_HNSW_SQ)"]
    print(f"LanceDB / Milvus Lite: search p95 ×{lance['p95_ms'] / m['p95_ms']:.2f}, cold start ×{lance['cold_s'] / m['cold_s']:.2f}")


if __name__ == "__main__":
    main()
