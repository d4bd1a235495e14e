"""Attribution benchmark: are answer sentences traced to the right article, and are changed
figures and flipped modal words caught? (rag/answer/attribution.py; figures in docs/attribution.md)

    python bench/attribution.py [--split train|dev] [--limit N] [--before] [--json] [--dense] [--grid]
    python bench/attribution.py --rated bench/attribution_rated.jsonl

Built from STARD/LeCoQA rows of ../shared/data/eval/stard_lecoqa_dev.jsonl (never
stard_labor_dev.jsonl). Each lawyer answer is split into claims and checked three ways, each
against 8 articles as the chat would retrieve them:
  supported  the gold articles + other articles of the same law (the most similar ones, from
             the gold articles of all rows), in a seeded order: should be supported by a gold
             article, with no flag;
  wrong      the same sentences against the other articles of the same law only: should be
             "no basis found";
  changed    the same sentences with one figure or one modal word changed (only where the gold
             article states that figure, or governs that verb with that modal word; 2 倍 → 3 倍,
             六十日 → 九十日, 应当 → 无须, 可以 → 不得 …): should carry a number / negation flag.
Thresholds are tuned with --split train --grid and reported on dev. --rated scores the hand
ratings of 1.5B-model answers (bench/attribution_answers.py makes them; the file says how
each sentence was rated).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answer import attribution as attr  # noqa: E402
from rag.answer import mismatch  # noqa: E402
from rag.answer.claims import NEGATIVE, polarity_words, split_claims  # noqa: E402
from rag.answer.numbers import quantities, same_value  # noqa: E402
from rag.documents.statutes import cn_to_int, int_to_cn, normalize_law_name  # noqa: E402
from rag.types import Article, Citation  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "eval" / "stard_lecoqa_dev.jsonl"
CONTEXT = 8  # articles per check, as settings.top_k retrieves
SEED = 21
FLIP = {"应当": "无须", "应该": "无须", "必须": "无须", "需要": "无需", "可以": "不得", "有权": "无权", "能够": "不能",
        "允许": "禁止", "准许": "禁止", "享有": "不享有", "予以": "不予", "不得": "可以", "不应当": "应当", "不应": "应",
        "无须": "应当", "无需": "应当", "不需要": "需要", "不可以": "可以", "不能": "可以", "无权": "有权", "禁止": "允许",
        "不予": "予以", "严禁": "允许", "不准": "准许", "不享有": "享有", "不必": "必须", "应予以": "不予",
        "不允许": "允许", "不需要": "需要", "可以不": "应当"}
NEXT_VALUE = {0.5: 1, 1: 2, 1.5: 2, 2: 3, 3: 2, 10: 20, 12: 6, 15: 30, 30: 15, 60: 90, 90: 60, 6: 12, 24: 12}


def load(split: str, limit: int) -> tuple[list[dict], dict[str, list[Article]]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    pool: dict[str, dict[str, Article]] = {}
    for r in rows:  # every row's gold articles: the "other articles of the same law"
        for g in r["gold_articles"]:
            a = gold_article(g)
            pool.setdefault(a.law_short, {})[g["name"]] = a
    chosen = [r for r in rows if r["stard_split"] == split and isinstance(r.get("answer"), str) and r["answer"].strip()]
    return (chosen[:limit] if limit else chosen), {law: list(v.values()) for law, v in pool.items()}


def gold_article(g: dict) -> Article:
    m = re.match(r"第(.+?)条", g["article_cn"])
    try:
        no = cn_to_int(m.group(1)) if m else None
    except ValueError:
        no = None
    return Article(text=g["text"].strip(), law_title=g["law"], law_short=normalize_law_name(g["law"]),
                   article_no=no, article_cn=g["article_cn"])


def bigrams(text: str) -> set[str]:
    text = re.sub(r"\W", "", text)
    return {text[i:i + 2] for i in range(len(text) - 1)}


def contexts(row: dict, pool: dict[str, list[Article]], rng: random.Random) -> tuple[list[Citation], list[Citation]]:
    """(gold + same-law distractors, distractors only), CONTEXT articles at most each."""
    gold = [gold_article(g) for g in row["gold_articles"]]
    gold_texts = {a.text for a in gold}
    laws = {a.law_short for a in gold}
    others = [a for law in laws for a in pool.get(law, []) if a.text not in gold_texts]
    ref = bigrams(row["answer"])
    others.sort(key=lambda a: -len(ref & bigrams(a.text)))
    distractors = others[:CONTEXT - len(gold)]
    with_gold = gold + distractors
    rng.shuffle(with_gold)
    return [Citation(a, 1.0) for a in with_gold], [Citation(a, 1.0) for a in others[:CONTEXT]]


def write_like(original: str, value: float) -> str:
    """A number written the way the original was (Chinese or Arabic digits)."""
    chinese = not re.search(r"\d", original)
    if value == int(value):
        return int_to_cn(int(value)) if chinese else str(int(value))
    whole, frac = f"{value:g}".split(".")
    return (int_to_cn(int(whole)) + "点" + "".join("零一二三四五六七八九"[int(d)] for d in frac)) if chinese else f"{value:g}"


MODAL_CLASS = {**dict.fromkeys(("应当", "应该", "必须", "需要", "予以", "应予以", "有义务"), "应当类 → 无须/不予"),
               **dict.fromkeys(("可以", "能够", "允许", "准许"), "可以类 → 不得/不能/禁止"),
               **dict.fromkeys(("有权", "享有"), "有权/享有 → 无权/不享有"),
               **dict.fromkeys(("不得", "禁止", "严禁", "不准", "不允许", "不可以", "不能", "不可"), "不得类 → 可以/允许"),
               **dict.fromkeys(("无须", "无需", "不需要", "不必", "不应当", "不应", "可以不"), "无须类 → 应当/必须"),
               **dict.fromkeys(("无权", "不享有"), "无权/不享有 → 有权/享有"),
               "不予": "不予 → 予以"}


def number_class(q) -> str:
    """The benchmark's category of a figure: percentage / fraction / multiple, day / month /
    year limit, hours, age, amount."""
    if q.kind == "multiple":
        return {"percent": "percentage", "fraction": "fraction"}.get(q.style, "multiple")
    if q.kind == "months":
        return "year limit" if "年" in q.text else "month limit"
    return {"days": "day limit", "hours": "hours", "age": "age", "money": "amount"}[q.kind]


FRACTIONS = {(1, 2): "三分之一", (1, 3): "二分之一", (2, 3): "二分之一", (1, 4): "三分之一", (3, 4): "三分之二"}


def change_number(sentence: str, gold_text: str, category: list | None = None) -> str | None:
    """The sentence with its first figure that the gold article states changed, or None
    (category, when given, gets the figure's category appended)."""
    gold_q = quantities(gold_text)
    for q in quantities(sentence):
        if not any(same_value(q, g) for g in gold_q):
            continue
        if q.style == "fraction":  # 三分之二 → 二分之一: a fraction for a fraction, not 一点三分之二
            key = min(FRACTIONS, key=lambda f: abs(f[0] / f[1] - q.value))
            if category is not None:
                category.append(number_class(q))
            return sentence[:q.start] + FRACTIONS[key] + sentence[q.end:]
        num = re.search(r"\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万]+(?:点[零一二三四五六七八九]+)?", q.text.replace("百分之", "", 1))
        if not num:
            continue
        shown = q.value * 100 if q.style == "percent" else (q.value if q.kind != "months" or "年" not in q.text
                                                              else q.value / 12)
        new = NEXT_VALUE.get(shown, shown * 2 if shown < 100 else shown / 2)
        if q.style == "percent":
            new = {150: 200, 200: 300, 300: 200}.get(shown, new)
        offset = q.text.find(num.group()) if not q.text.startswith("百分之") else 3
        changed = q.text[:offset] + write_like(num.group(), new) + q.text[offset + len(num.group()):]
        if category is not None:
            category.append(number_class(q))
        return sentence[:q.start] + changed + sentence[q.end:]
    return None


def flip_modal(sentence: str, gold_text: str, category: list | None = None) -> str | None:
    """The sentence with its first modal word whose verb the gold article governs flipped."""
    gold_verbs = {v for m in polarity_words(gold_text) for v in mismatch.verb_words(gold_text[m.end:m.end + mismatch.PREDICATE_WINDOW])}
    for m in polarity_words(sentence):
        verbs = mismatch.verb_words(sentence[m.end:m.end + mismatch.PREDICATE_WINDOW])
        if m.word in FLIP and set(verbs) & gold_verbs:
            if category is not None:
                category.append(MODAL_CLASS.get(m.word, m.word))
                category.append(article_agrees(m, verbs, gold_text))
            return sentence[:m.start] + FLIP[m.word] + sentence[m.end:]
    return None


def article_agrees(m, verbs: list[str], gold_text: str) -> bool:
    """True when every modal word of the gold article before one of these verbs has the
    polarity of the original's (so flipping it contradicts the article's words). False where
    the article says the flipped word itself (承租人经出租人同意，可以对租赁物进行改善 for a lawyer's
    未经出租人同意，承租人不得…): the flip then agrees with the article's words."""
    gold = [x for x in polarity_words(gold_text)
            if set(verbs) & set(mismatch.verb_words(gold_text[x.end:x.end + mismatch.PREDICATE_WINDOW]))]
    return bool(gold) and all(x.negative == m.negative for x in gold)


def run(rows, pool, embedder=None) -> dict:
    rng = random.Random(SEED)
    out = {"supported": [], "wrong": [], "number": [], "negation": [], "ms": []}
    for row in rows:
        with_gold, wrong = contexts(row, pool, rng)
        gold_text = "\n".join(g["text"] for g in row["gold_articles"])
        gold_ids = {n for n, c in enumerate(with_gold, 1) if c.article.text in gold_text}
        t0 = time.perf_counter()
        checked = attr.attribute(row["answer"], with_gold, embedder)
        out["ms"].append((time.perf_counter() - t0) * 1000)
        for c in checked.claims:
            if c.status == "skip":
                continue
            out["supported"].append({"status": c.status, "gold": bool(c.sources) and c.sources[0].citation in gold_ids,
                                     "flags": [f.kind for f in c.flags], "text": c.text, "advice": c.advice,
                                     "reasons": c.reason})
        if wrong:
            for c in attr.attribute(row["answer"], wrong, embedder).claims:
                if c.status != "skip":
                    out["wrong"].append({"status": c.status, "advice": c.advice})
        grounded = {c.text for c in checked.claims if c.sources and c.sources[0].citation in gold_ids}
        for claim in split_claims(row["answer"]):
            if not claim.checkable:
                continue
            for kind, change in (("number", change_number), ("negation", flip_modal)):
                category: list[str] = []
                changed = change(claim.text, gold_text, category)
                if changed:
                    result = attr.attribute(changed, with_gold, embedder).claims
                    kinds = {f.kind for c in result for f in c.flags}
                    out[kind].append({"caught": kind in kinds, "any": bool(kinds), "text": changed,
                                      "category": category[0] if category else "", "original": claim.text,
                                      "contradicts": category[1] if len(category) > 1 else True,
                                      "original_on_gold": claim.text in grounded,
                                      "status": [c.status for c in result if c.status != "skip"]})
    return out


def rate(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else float("nan")


def pct(values, p) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def report(out: dict) -> dict:
    sup, wrong = out["supported"], out["wrong"]
    attributed = [s for s in sup if s["status"] in ("supported", "partial")]
    nb_tp = sum(w["status"] == "none" for w in wrong)
    nb_fp = sum(s["status"] == "none" for s in sup)
    num_caught = sum(x["caught"] for x in out["number"])
    num_false = sum("number" in s["flags"] for s in sup)
    neg_caught = sum(x["caught"] for x in out["negation"])
    neg_false = sum("negation" in s["flags"] for s in sup)
    return {
        "lawyer sentences": len(sup), "attributed (supported or partly)": rate(s in attributed for s in sup),
        "right article among attributed": rate(s["gold"] for s in attributed),
        "right article among supported": rate(s["gold"] for s in sup if s["status"] == "supported"),
        "no basis: recall (wrong-article sentences flagged)": rate(w["status"] == "none" for w in wrong),
        "no basis: false flags on lawyer sentences": rate(s["status"] == "none" for s in sup),
        "no basis: precision": nb_tp / (nb_tp + nb_fp) if nb_tp + nb_fp else float("nan"),
        "changed figures": len(out["number"]), "changed figures caught": rate(x["caught"] for x in out["number"]),
        "flipped modal words": len(out["negation"]), "flipped modal words caught": rate(x["caught"] for x in out["negation"]),
        "flipped modal words contradicting the article's words": sum(x["contradicts"] for x in out["negation"]),
        "flipped modal words contradicting the article's words caught": rate(
            x["caught"] for x in out["negation"] if x["contradicts"]),
        "number/negation caught (pooled, all changes)": rate(x["caught"] for x in out["number"] + out["negation"]),
        "number/negation caught (pooled)": rate(x["caught"] for x in out["number"] + out["negation"] if x["contradicts"]),
        "changed sentences whose original is attributed to a gold article": rate(
            x["original_on_gold"] for x in out["number"] + out["negation"]),
        "number/negation caught where the original is attributed to a gold article": rate(
            x["caught"] for x in out["number"] + out["negation"] if x["original_on_gold"]),
        "number flags on lawyer sentences": rate("number" in s["flags"] for s in sup),
        "negation flags on lawyer sentences": rate("negation" in s["flags"] for s in sup),
        "any number/negation flag on lawyer sentences": rate(bool(s["flags"]) for s in sup),
        "number flag: precision": num_caught / (num_caught + num_false) if num_caught + num_false else float("nan"),
        "negation flag: precision": neg_caught / (neg_caught + neg_false) if neg_caught + neg_false else float("nan"),
        "ms per answer p50": pct(out["ms"], 50), "ms per answer p95": pct(out["ms"], 95),
    }


def rated(path: Path) -> dict:
    """Precision / recall of each flag against hand ratings (one JSON line per sentence)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if "human" in r]

    def pr(pred, truth) -> tuple[float, float, int, int]:
        tp = sum(p and t for p, t in zip(pred, truth))
        return (tp / sum(pred) if sum(pred) else float("nan"), tp / sum(truth) if sum(truth) else float("nan"),
                sum(pred), sum(truth))

    nb = pr([r["system"]["status"] == "none" for r in rows], [r["human"]["basis"] == "none" for r in rows])
    num = pr(["number" in r["system"]["flags"] for r in rows], [r["human"].get("number_error", False) for r in rows])
    neg = pr(["negation" in r["system"]["flags"] for r in rows], [r["human"].get("negation_error", False) for r in rows])
    agree = rate(r["system"]["status"] == r["human"]["basis"] for r in rows)
    src = rate(r["human"].get("source_right", True) for r in rows if r["system"]["status"] in ("supported", "partial"))
    return {"sentences rated": len(rows), "label agreement (supported/partial/none)": agree,
            "right article among attributed (human)": src,
            "no basis: precision / recall (flagged, truly none)": nb,
            "number: precision / recall (flagged, true errors)": num,
            "negation: precision / recall (flagged, true errors)": neg}


def grid(rows, pool) -> None:
    """No-basis and label thresholds on train: balanced accuracy of 'none' vs supported."""
    out = run(rows, pool)
    print(json.dumps(report(out), ensure_ascii=False, indent=1))
    for partly in (0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
        attr.PARTLY = partly
        o = run(rows, pool)
        r = report(o)
        print(f"PARTLY={partly}: no-basis recall {r['no basis: recall (wrong-article sentences flagged)']:.3f} "
              f"false {r['no basis: false flags on lawyer sentences']:.3f} right article "
              f"{r['right article among attributed']:.3f} caught {r['number/negation caught (pooled)']:.3f} "
              f"false flags {r['any number/negation flag on lawyer sentences']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("train", "dev"), default="dev")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--dense", action="store_true", help="add the configured embedder's cosine to the score")
    ap.add_argument("--grid", action="store_true", help="try thresholds (use with --split train)")
    ap.add_argument("--rated", type=Path, default=None, help="hand-rated 1.5B sentences (JSONL)")
    ap.add_argument("--dump", type=Path, default=None, help="write the per-sentence results (after) here")
    ap.add_argument("--before", action="store_true",
                    help="also run the earlier check (rag.answer.mismatch.ALIGNED_CHECK = False) for a before/after table")
    ap.add_argument("--json", action="store_true", help="print every measure as JSON too")
    args = ap.parse_args()
    if args.rated:
        print(json.dumps(rated(args.rated), ensure_ascii=False, indent=1))
        return
    rows, pool = load(args.split, args.limit)
    if args.grid:
        return grid(rows, pool)
    embedder = None
    if args.dense:
        from rag.defaults import embedder_from
        from settings import get_settings

        embedder = embedder_from(get_settings())
        attr.SCORE_DENSE_WEIGHT = attr.SCORE_DENSE_WEIGHT or 0.3
    attr.attribute("预热：用人单位应当支付工资。", [Citation(Article("用人单位应当按时支付工资。"), 1.0)], embedder)
    results = {}
    for name, aligned in (("before", False), ("after", True)) if args.before else (("after", True),):
        mismatch.ALIGNED_CHECK = aligned
        results[name] = run(rows, pool, embedder)
    mismatch.ALIGNED_CHECK = True
    print(f"{len(rows)} {args.split} rows · {'lexical + dense' if embedder else 'lexical'}")
    reports = {name: report(out) for name, out in results.items()}
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=1))
    print_table(reports, results)
    if args.dump:
        args.dump.write_text(json.dumps(results["after"], ensure_ascii=False, indent=1), encoding="utf-8")


TABLE = (("lawyer sentences checked", "lawyer sentences", "n"),
         ("right article among supported sentences", "right article among supported", "%"),
         ("right article among supported or partly", "right article among attributed", "%"),
         ("\"no basis\": recall on wrong-article sentences", "no basis: recall (wrong-article sentences flagged)", "%"),
         ("\"no basis\": false flags on lawyer sentences", "no basis: false flags on lawyer sentences", "%"),
         ("changed figures caught", "changed figures caught", "%"),
         ("flipped modal words caught", "flipped modal words caught", "%"),
         ("flipped modal words where the article says only the original's polarity", "flipped modal words contradicting the article's words", "n"),
         ("… caught", "flipped modal words contradicting the article's words caught", "%"),
         ("number/negation caught, pooled, all changes", "number/negation caught (pooled, all changes)", "%"),
         ("**number/negation caught, pooled: figures + flips contradicting the article** (goal ≥ 95%)", "number/negation caught (pooled)", "%"),
         ("number flags on unchanged lawyer sentences", "number flags on lawyer sentences", "%"),
         ("negation flags on unchanged lawyer sentences", "negation flags on lawyer sentences", "%"),
         ("**any number/negation flag on lawyer sentences** (goal ≤ 5%)", "any number/negation flag on lawyer sentences", "%"),
         ("number flag precision", "number flag: precision", "%"),
         ("negation flag precision", "negation flag: precision", "%"),
         ("ms per answer p50", "ms per answer p50", "ms"),
         ("**ms per answer p95** (goal ≤ 300)", "ms per answer p95", "ms"))


def print_table(reports: dict, results: dict) -> None:
    """Markdown tables: the measures side by side (before = ALIGNED_CHECK off), and what is
    caught per category of change."""
    names = list(reports)
    print("\n| measure | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for label, key, unit in TABLE:
        cells = []
        for n in names:
            v = reports[n][key]
            cells.append(f"{v}" if unit == "n" else f"{v:.1f}" if unit == "ms" else f"{100 * v:.1f}%")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n| changed | category | n | " + " | ".join(f"caught {n}" for n in names) + " |\n|---|---|---|" + "---|" * len(names))
    for kind, subset in (("number", True), ("negation", True), ("negation", False)):
        last = [x for x in results[names[-1]][kind] if x["contradicts"] == subset]
        cats = sorted({x["category"] for x in last}, key=lambda c: -sum(x["category"] == c for x in last))
        label = kind if kind == "number" else f"negation ({'contradicts the article' if subset else 'article also says the flipped word'})"
        for cat in cats:
            cells = []
            for n in names:
                xs = [x for x in results[n][kind] if x["category"] == cat and x["contradicts"] == subset]
                cells.append(f"{sum(x['caught'] for x in xs)} ({100 * rate(x['caught'] for x in xs):.0f}%)")
            print(f"| {label} | {cat} | {sum(x['category'] == cat for x in last)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
