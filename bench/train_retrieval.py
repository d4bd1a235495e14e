# Over 400 lines: a bench script: data mining, the GPU training half and the evaluation of one experiment, run as one file on the device.
"""Train the retrieval models on STARD's train split: a LoRA adapter for the e5-small embedder
and a cross-encoder reranker (LoRA + head on the same base). Two halves, like gpu_embed.py:

    python bench/train_retrieval.py prepare [--out .gpuembed]     # here, CPU (~3 min) → .gpuembed/gpu
    # device: PYTHONPATH=.gpuembed/gpu/pylib python bench/train_retrieval.py train .gpuembed/gpu $OUT
    python bench/train_retrieval.py install OUT_DIR               # here: adapters → rag/retrieval/adapters/

Data discipline: only rows with stard_split == "train" are trained on. 10% of them (seeded)
are held out to pick the epoch; dev rows are scored once at the end, for the log only (the
reported figures come from bench/retrieval.py on the CPU). Nothing is chosen by dev score.

prepare: the lawrefbook bench KB (bench/retrieval.py builds it) gives the articles; each
question's gold articles are mapped to corpus rows (law + number, or the gold text inside the
article), and its BM25 top 50 are stored as hard-negative candidates. Questions, articles
("passage: "-prefixed for the embedder, raw for the reranker) are tokenised here with the CPU
tokenizer, so the GPU sees exactly the ids the product will.

train: (1) embedder: InfoNCE over in-batch + 3 hard negatives per question (mined from the base
model's dense top 30 and BM25's top 50, gold and gold-identical texts excluded), temperature
0.05, LoRA r=16 on every encoder linear layer; (2) reranker: BertForSequenceClassification on
the same base, LoRA + trained pooler and head, listwise loss over 1 gold + 15 negatives from
the fused (BM25 + trained dense) top 30. Writes adapters.tar (both adapters + metrics.json)
and the trained model's corpus vectors.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from gpu_embed import batch_ids, encode, load_bert, load_ids, save_vectors  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BM25_CANDIDATES = 50
DENSE_NEGATIVES = 30
HARD_NEGATIVES = 7  # per question per step
HOLDOUT = 0.10
SEED = 0
# Variant 2 (variant 1: 3 hard negatives, 8 epochs at 2e-4, reranker 4 epochs: holdout
# MRR was still rising at the last epoch of both). Epochs are picked on the train holdout.
EMBED = dict(r=16, alpha=32, lr=3e-4, batch=64, epochs=16, eval_every=2, tau=0.05, max_len=256, q_len=96)
RERANK = dict(r=16, alpha=32, lr=2e-4, head_lr=1e-3, batch=16, group=16, epochs=6, max_len=192,
              q_len=64, top=30, rerank_top=20)
DENSE_WEIGHTS = (1.0, 1.5, 2.0, 3.0, 5.0)  # RRF weight of dense vs BM25 (1), picked on the holdout
RRF_K = 60


# ---------------------------------------------------------------- prepare (CPU)
def norm_law(name: str) -> str:
    return re.sub(r"[《》〈〉\s]|中华人民共和国", "", name or "")


def norm_text(text: str) -> str:
    return re.sub(r"[\s　]", "", text or "")


def prepare(questions: Path, out: Path, kb_name: str) -> None:
    sys.path.insert(0, str(ROOT))
    from gpu_embed import prepare as prepare_corpus

    from rag.defaults import embedder_from
    from rag.kb import KnowledgeBases
    from rag.documents.statutes import cn_to_int
    from settings import get_settings

    settings = get_settings()
    library = KnowledgeBases(settings.data_dir / "bench" / "kbs", embedder_from(settings))
    kb = library.open(kb_name)
    corpus = Path(json.loads((library.root / f"{kb_name}.build.json").read_text()).get(
        "corpus", str(SHARED / "lawrefbook")))
    rows = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("stard_split") in ("train", "dev")]
    embedder = library.embedder
    prepare_corpus(corpus, out, extra={
        "questions": [(embedder.query_instruction or "") + r["question"] for r in rows],
        "questions_raw": [r["question"] for r in rows]}, raw=True)

    keys = json.loads((out / "keys.json").read_text())
    index = {k: i for i, k in enumerate(keys)}
    kb_rows = kb._read_rows(["id", "file_name", "seq"])
    key_of_id = {r["id"]: f"{r['file_name']}#{r['seq']}" for r in kb_rows}
    row_key = [None] * len(kb.articles)
    for kb_id, row in kb._snapshot.row_by_id.items():
        row_key[row] = index.get(key_of_id[kb_id])
    by_ref: dict[tuple[str, int], list[int]] = {}
    texts = []
    for row, a in enumerate(kb.articles):
        if row_key[row] is not None:
            by_ref.setdefault((norm_law(a.law_title), a.article_no), []).append(row_key[row])
        texts.append(norm_text(a.text))
    big = "\x00".join(texts)
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])

    def containing(fragment: str) -> set[int]:
        found, pos = set(), big.find(fragment)
        while pos >= 0:
            row = int(np.searchsorted(starts, pos, side="right") - 1)
            if row_key[row] is not None:
                found.add(row_key[row])
            pos = big.find(fragment, pos + 1)
        return found

    rng = random.Random(SEED)
    train_ids = [r["query_id"] for r in rows if r["stard_split"] == "train"]
    holdout = set(rng.sample(train_ids, int(len(train_ids) * HOLDOUT)))
    meta, unmatched = [], 0
    for r in rows:
        gold = set()
        for g in r["gold_articles"]:
            m = re.match(r"第(.+?)条", g["article_cn"])
            gold |= set(by_ref.get((norm_law(g["law"]), cn_to_int(m.group(1)) if m else -1), []))
            fragment = norm_text(g["text"])[:60]
            if fragment:
                gold |= containing(fragment)
        unmatched += not gold
        hits, _ = kb.bm25.search(kb.tokenizer.tokens(r["question"]), BM25_CANDIDATES)
        bm25 = [row_key[h] for h in hits.tolist() if row_key[h] is not None]
        fold = "dev" if r["stard_split"] == "dev" else "holdout" if r["query_id"] in holdout else "train"
        meta.append({"query_id": r["query_id"], "fold": fold, "gold": sorted(gold), "bm25": bm25})
    (out / "train.json").write_text(json.dumps({"questions": str(questions), "kb": kb_name, "rows": meta}))
    folds = {f: sum(m["fold"] == f for m in meta) for f in ("train", "holdout", "dev")}
    print(f"{len(meta)} questions {folds}; {unmatched} with no gold article in the corpus")
    stage_for_gpu(out)


GPU_FILES = ("model.safetensors", "config.json", "ids.npz", "articles_raw.npz", "questions.npz",
             "questions_raw.npz", "train.json")


def stage_for_gpu(out: Path) -> None:
    """out/gpu: what `train` reads (hard links), plus peft and accelerate, which the GPU machine
    lacks (PYTHONPATH=out/gpu/pylib there). Fits the device's 64 MiB transfer (≈ 62 MiB)."""
    import importlib.util
    import shutil

    gpu = out / "gpu"
    shutil.rmtree(gpu, ignore_errors=True)
    gpu.mkdir()
    for name in GPU_FILES:
        (gpu / name).hardlink_to(out / name)
    for package in ("peft", "accelerate"):
        src = Path(importlib.util.find_spec(package).origin).parent
        shutil.copytree(src, gpu / "pylib" / package, ignore=shutil.ignore_patterns("__pycache__"))
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


def rrf(bm25: list[int], dense: list[int], dense_weight: float = 1.0) -> list[int]:
    score: dict[int, float] = {}
    for hits, w in ((bm25, 1.0), (dense, dense_weight)):
        for rank, x in enumerate(hits, start=1):
            score[x] = score.get(x, 0.0) + w / (RRF_K + rank)
    return sorted(score, key=lambda x: -score[x])


def pooled(model, x, mask):
    import torch

    hidden = model(input_ids=x, attention_mask=mask, token_type_ids=torch.zeros_like(x)).last_hidden_state
    p = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    return torch.nn.functional.normalize(p.float(), dim=-1)


def lora_config(r: int, alpha: int, **extra):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.05,
                      target_modules=r".*encoder\.layer\.\d+\..*(query|key|value|dense)$", **extra)


def train_embedder(src: Path, meta: list[dict], log: dict, dev: str):
    import torch
    from peft import get_peft_model

    base = load_bert(src)
    ids, off = load_ids(src / "ids.npz")
    qids, qoff = load_ids(src / "questions.npz")
    pad = base.config.pad_token_id
    folds = {f: [i for i, m in enumerate(meta) if m["fold"] == f] for f in ("train", "holdout", "dev")}
    golds = [set(m["gold"]) for m in meta]

    def evaluate(model, fold: str) -> tuple[dict, np.ndarray, np.ndarray]:
        e = encode(model, ids, off)
        q = encode(model, qids, qoff)
        rows = folds[fold]
        top = top_k(q[rows], e, 10)
        return rank_metrics([t.tolist() for t in top], [golds[i] for i in rows]), e, q

    t0 = time.perf_counter()
    base_holdout, e0, q0 = evaluate(base, "holdout")
    log["embedder"] = {"base_holdout": base_holdout, "config": EMBED}
    print("base dense, train holdout:", base_holdout, flush=True)
    # hard negatives from the base model's dense top and BM25's top; texts equal to a gold excluded
    digests = [hash(ids[off[i]:off[i + 1]].tobytes()) for i in range(len(off) - 1)]
    dense_top = top_k(q0, e0, DENSE_NEGATIVES + 10)
    negatives = []
    for i, m in enumerate(meta):
        gold_digests = {digests[g] for g in m["gold"]}
        pool = [x for x in list(dense_top[i][:DENSE_NEGATIVES]) + m["bm25"]
                if x not in golds[i] and digests[x] not in gold_digests]
        negatives.append(list(dict.fromkeys(int(x) for x in pool)))

    model = get_peft_model(base, lora_config(EMBED["r"], EMBED["alpha"]))
    model.print_trainable_parameters()
    pairs = [(i, g) for i in folds["train"] for g in meta[i]["gold"]]
    steps_per_epoch = (len(pairs) + EMBED["batch"] - 1) // EMBED["batch"]
    total = steps_per_epoch * EMBED["epochs"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=EMBED["lr"], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * total)) * max(0.0, 1 - s / total))
    rng = random.Random(SEED)
    best, best_state, history = -1.0, None, []
    for epoch in range(1, EMBED["epochs"] + 1):
        model.train()
        rng.shuffle(pairs)
        losses = []
        for s in range(0, len(pairs), EMBED["batch"]):
            batch = pairs[s:s + EMBED["batch"]]
            q_rows = [i for i, _ in batch]
            passages = [g for _, g in batch]
            for i, _ in batch:
                passages += rng.sample(negatives[i], min(HARD_NEGATIVES, len(negatives[i])))
            qx, qm = batch_ids(qids, qoff, q_rows, pad, EMBED["q_len"])
            px, pm = batch_ids(ids, off, passages, pad, EMBED["max_len"])
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
                qv = pooled(model, qx.to(dev), qm.to(dev))
                pv = pooled(model, px.to(dev), pm.to(dev))
            logits = qv @ pv.T / EMBED["tau"]
            # another passage that is also gold for this question is not a negative
            mask = torch.tensor([[p in golds[i] and j != n for j, p in enumerate(passages)]
                                 for n, i in enumerate(q_rows)], device=dev)
            logits = logits.masked_fill(mask, -1e4)
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch), device=dev))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(), sched.step(), opt.zero_grad()
            losses.append(loss.item())
        if epoch % EMBED["eval_every"] and epoch != EMBED["epochs"]:
            continue
        holdout, _, _ = evaluate(model, "holdout")
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4), **holdout})
        print(history[-1], flush=True)
        if holdout["mrr"] > best:
            best = holdout["mrr"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}
    model.load_state_dict(best_state, strict=False)
    log["embedder"].update(history=history, best_epoch=max(history, key=lambda h: h["mrr"])["epoch"],
                           train_pairs=len(pairs), train_s=round(time.perf_counter() - t0, 1))
    holdout, e1, q1 = evaluate(model, "holdout")
    dev_m, _, _ = evaluate(model, "dev")
    base_dev = rank_metrics([t.tolist() for t in top_k(q0[folds["dev"]], e0, 10)], [golds[i] for i in folds["dev"]])
    log["embedder"].update(holdout=holdout, dev_once=dev_m, base_dev_once=base_dev)
    print("trained dense: holdout", holdout, "dev (once, for the log)", dev_m, "base dev", base_dev, flush=True)
    return model, e1, q1


def train_reranker(src: Path, meta: list[dict], e1: np.ndarray, q1: np.ndarray, log: dict, dev: str):
    import torch
    from peft import get_peft_model
    from safetensors.torch import load_file as load_weights
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(**{**json.loads((src / "config.json").read_text()), "num_labels": 1})
    model = BertForSequenceClassification(config)
    state = {k: v.float() for k, v in load_weights(str(src / "model.safetensors")).items()}
    state = {(k if k.startswith("bert.") else f"bert.{k}"): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if "pooler" not in k}  # the converted pooler is zeros
    model.load_state_dict(state, strict=False)
    model = model.to(dev)
    aids, aoff = load_ids(src / "articles_raw.npz")
    qids, qoff = load_ids(src / "questions_raw.npz")
    golds = [set(m["gold"]) for m in meta]
    digests = [hash(aids[aoff[i]:aoff[i + 1]].tobytes()) for i in range(len(aoff) - 1)]
    dense = top_k(q1, e1, BM25_CANDIDATES)
    holdout_rows = [i for i, m in enumerate(meta) if m["fold"] == "holdout"]
    sweep = {w: rank_metrics([rrf(meta[i]["bm25"], dense[i].tolist(), w) for i in holdout_rows],
                             [golds[i] for i in holdout_rows]) for w in DENSE_WEIGHTS}
    weight = max(sweep, key=lambda w: sweep[w]["mrr"])
    print("fusion weight sweep (holdout):", sweep, "→", weight, flush=True)
    fused = [rrf(m["bm25"], dense[i].tolist(), weight)[:RERANK["top"]] for i, m in enumerate(meta)]

    def pair(qi: int, a: int) -> np.ndarray:
        q = qids[qoff[qi] + 1:qoff[qi + 1] - 1][:RERANK["q_len"]]
        room = RERANK["max_len"] - len(q) - 4
        art = aids[aoff[a] + 1:aoff[a + 1] - 1][:room]
        return np.concatenate([[0], q, [2, 2], art, [2]])  # <s> q </s></s> a </s>, as the tokenizer pairs

    def tensors(seqs: list[np.ndarray]):
        width = max(len(s) for s in seqs)
        x = torch.full((len(seqs), width), config.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(x)
        for i, s in enumerate(seqs):
            x[i, :len(s)], mask[i, :len(s)] = torch.from_numpy(s), 1
        return x.to(dev), mask.to(dev)

    def scores(model, qi: int, cands: list[int]) -> list[float]:
        x, mask = tensors([pair(qi, a) for a in cands])
        with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            return model(input_ids=x, attention_mask=mask).logits[:, 0].float().cpu().tolist()

    def evaluate(model, fold: str) -> dict:
        model.eval()
        rows = [i for i, m in enumerate(meta) if m["fold"] == fold]
        ranked = []
        for i in rows:
            cands = fused[i][:RERANK["rerank_top"]]
            s = scores(model, i, cands)
            ranked.append([a for _, a in sorted(zip(s, cands), key=lambda t: -t[0])] + fused[i][RERANK["rerank_top"]:])
        model.train()
        return rank_metrics(ranked, [golds[i] for i in rows])

    fused_holdout = rank_metrics([fused[i] for i, m in enumerate(meta) if m["fold"] == "holdout"],
                                 [golds[i] for i, m in enumerate(meta) if m["fold"] == "holdout"])
    log["reranker"] = {"config": RERANK, "fused_holdout": fused_holdout, "dense_weight": weight,
                       "weight_sweep_holdout": {str(w): m for w, m in sweep.items()}}
    print("fused (bm25 + trained dense), holdout:", fused_holdout, flush=True)
    torch.nn.init.normal_(model.bert.pooler.dense.weight, std=0.02)
    torch.nn.init.zeros_(model.bert.pooler.dense.bias)
    model = get_peft_model(model, lora_config(RERANK["r"], RERANK["alpha"], modules_to_save=["classifier", "pooler"]))
    model.print_trainable_parameters()
    train_rows = [i for i, m in enumerate(meta) if m["fold"] == "train" and m["gold"]]
    head = [p for n, p in model.named_parameters() if p.requires_grad and "modules_to_save" in n]
    lora = [p for n, p in model.named_parameters() if p.requires_grad and "modules_to_save" not in n]
    opt = torch.optim.AdamW([{"params": lora, "lr": RERANK["lr"]}, {"params": head, "lr": RERANK["head_lr"]}],
                            weight_decay=0.01)
    steps = RERANK["epochs"] * ((len(train_rows) + RERANK["batch"] - 1) // RERANK["batch"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
    rng = random.Random(SEED)
    t0 = time.perf_counter()
    best, best_state, history = -1.0, None, []
    for epoch in range(1, RERANK["epochs"] + 1):
        model.train()
        rng.shuffle(train_rows)
        losses = []
        for s in range(0, len(train_rows), RERANK["batch"]):
            seqs = []
            for i in train_rows[s:s + RERANK["batch"]]:
                gold_digests = {digests[g] for g in meta[i]["gold"]}
                negs = [a for a in fused[i] if a not in golds[i] and digests[a] not in gold_digests]
                in_top = [g for g in fused[i] if g in golds[i]]
                pos = rng.choice(in_top or meta[i]["gold"])
                negs = rng.sample(negs, min(RERANK["group"] - 1, len(negs)))
                negs += rng.choices(negatives_fill(fused[i], golds[i]), k=RERANK["group"] - 1 - len(negs))
                seqs += [pair(i, a) for a in [pos, *negs]]
            x, mask = tensors(seqs)
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
                logits = model(input_ids=x, attention_mask=mask).logits[:, 0].float()
            logits = logits.view(-1, RERANK["group"])
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=dev))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(), sched.step(), opt.zero_grad()
            losses.append(loss.item())
        holdout = evaluate(model, "holdout")
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4), **holdout})
        print(history[-1], flush=True)
        if holdout["mrr"] > best:
            best = holdout["mrr"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()
                          if "lora_" in k or "modules_to_save" in k}
    model.load_state_dict(best_state, strict=False)
    dev_m = evaluate(model, "dev")
    fused_dev = rank_metrics([fused[i] for i, m in enumerate(meta) if m["fold"] == "dev"],
                             [golds[i] for i, m in enumerate(meta) if m["fold"] == "dev"])
    log["reranker"].update(history=history, best_epoch=max(history, key=lambda h: h["mrr"])["epoch"],
                           train_s=round(time.perf_counter() - t0, 1), dev_once=dev_m, fused_dev_once=fused_dev)
    print("reranked: dev (once, for the log)", dev_m, "fused dev", fused_dev, flush=True)
    return model


def negatives_fill(cands: list[int], gold: set[int]) -> list[int]:
    """Fallback negatives when the candidate list is short (never a gold)."""
    return [a for a in cands if a not in gold] or [0]


def smoke_subset(src: Path, meta: list[dict], out: Path) -> tuple[Path, list[dict]]:
    """A copy of `src` holding only the articles these questions touch (ids remapped)."""
    import shutil

    keep = sorted({a for m in meta for a in m["gold"] + m["bm25"]})
    new = {a: i for i, a in enumerate(keep)}
    out.mkdir(parents=True, exist_ok=True)
    for name in ("ids", "articles_raw"):
        ids, off = load_ids(src / f"{name}.npz")
        parts = [ids[off[a]:off[a + 1]] for a in keep]
        np.savez(out / f"{name}.npz", ids=np.concatenate(parts).astype(np.uint16),
                 offsets=np.concatenate([[0], np.cumsum([len(p) for p in parts])]))
    rows = [meta_i["query_id"] for meta_i in meta]
    for name in ("questions", "questions_raw"):
        ids, off = load_ids(src / f"{name}.npz")
        full = json.loads((src / "train.json").read_text())["rows"]
        pos = [next(i for i, m in enumerate(full) if m["query_id"] == q) for q in rows]
        parts = [ids[off[p]:off[p + 1]] for p in pos]
        np.savez(out / f"{name}.npz", ids=np.concatenate(parts).astype(np.uint16),
                 offsets=np.concatenate([[0], np.cumsum([len(p) for p in parts])]))
    for name in ("model.safetensors", "config.json"):
        shutil.copy(src / name, out / name)
    return out, [{**m, "gold": [new[a] for a in m["gold"]], "bm25": [new[a] for a in m["bm25"]]} for m in meta]


def train(src: Path, out: Path, smoke: bool = False) -> None:
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    meta = json.loads((src / "train.json").read_text())["rows"]
    if smoke:  # CPU check of the code path: few questions and their candidate articles only
        EMBED.update(epochs=1, batch=8)
        RERANK.update(epochs=1, batch=4, group=4, top=8, rerank_top=6)
        meta = [m for m in meta if m["fold"] == "train"][:16] + [m for m in meta if m["fold"] != "train"][:8]
        src, meta = smoke_subset(src, meta, out / "smoke")
    random.seed(SEED), np.random.seed(SEED), torch.manual_seed(SEED)
    log = {"gpu": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "torch": torch.__version__,
           "folds": {f: sum(m["fold"] == f for m in meta) for f in ("train", "holdout", "dev")}}
    embedder, e1, q1 = train_embedder(src, meta, log, dev)
    reranker = train_reranker(src, meta, e1, q1, log, dev)
    import tempfile

    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp()) / "adapters"  # only the tar goes to OUT (8 files come back)
    embedder.save_pretrained(str(stage / "embedder"))
    reranker.save_pretrained(str(stage / "reranker"))
    (stage / "metrics.json").write_text(json.dumps(log, indent=1))
    with tarfile.open(out / "adapters.tar", "w") as tar:
        tar.add(stage, arcname="adapters")
    save_vectors(e1, out / "vectors")
    print(json.dumps(log))


def install(out: Path) -> None:
    """Copy the trained adapters into rag/retrieval/adapters/ (what the product loads) with the run's log."""
    import shutil

    target = ROOT / "rag" / "adapters"
    with tarfile.open(out / "adapters.tar") as tar:
        tar.extractall(out / "unpacked", filter="data")
    src = out / "unpacked" / "adapters"
    for trained, shipped in (("embedder", "legal-e5-small"), ("reranker", "legal-reranker")):
        (target / shipped).mkdir(parents=True, exist_ok=True)
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy(src / trained / name, target / shipped / name)
    shutil.copy(src / "metrics.json", target / "training.json")
    for name in ("keys.json", "corpus.json"):  # bench/retrieval.py --trained-vectors OUT/vectors reads them
        if (ROOT / ".gpuembed" / name).exists():
            shutil.copy(ROOT / ".gpuembed" / name, out / name)
    print(f"installed into {target}: " + ", ".join(
        f"{p.relative_to(target)} {p.stat().st_size / 1e6:.1f} MB" for p in sorted(target.rglob("*.safetensors"))))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--questions", type=Path, default=SHARED / "eval" / "stard_lecoqa_dev.jsonl")
    p.add_argument("--kb", default="bench-lawrefbook")
    p.add_argument("--out", type=Path, default=ROOT / ".gpuembed")
    p = sub.add_parser("train")
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--smoke", action="store_true")
    p = sub.add_parser("install")
    p.add_argument("out", type=Path)
    args = ap.parse_args()
    if args.cmd == "prepare":
        prepare(args.questions, args.out, args.kb)
    elif args.cmd == "train":
        train(args.src, args.out, args.smoke)
    else:
        install(args.out)


if __name__ == "__main__":
    main()
