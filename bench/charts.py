"""Chart reading: accuracy and time per chart, on charts drawn from known numbers.

    python bench/charts.py [--only NAME ...] [--threads 2]
    python bench/charts.py --ask 3 [--seeds 42,7,2026] [--sample 0]   # the page's question, answered

Reads every case of tests/charts.py (matplotlib, known values), the bundled samples
(knowledge/examples/) and three charts the reader must refuse, through the product's path
(rag.documents.chart.read_chart: OCR → text roles → OpenCV measurement). Per chart: whether
the categories came out right and in order, the largest error as a share of the value axis'
drawn range (the goal is ≤ 3%), how many values were read from data labels versus estimated,
and the wall time (OCR included; onnxruntime limited to --threads). Prints a Markdown table.

--ask N puts the finance page's default question about a bundled sample to the default
endpoint (the embedded CPU model unless settings say otherwise) N times per seed, exactly as
the page sends it (rag.answer.chart_qa.chart_prompts, the evaluation's sampling), and prints
each answer with which of the sample's values it states.

Does not assert anything (tests/test_chart.py does), judge an answer's trend wording (read the
printed answers), or measure real-world charts (screenshots of finance sites, scans): those
read worse than these clean renders.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="case names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ask", type=int, default=0, help="answers per seed from the default endpoint")
    parser.add_argument("--seeds", default="42", help="comma-separated; 42 is the page's")
    parser.add_argument("--sample", type=int, default=0, help="which bundled sample to ask about")
    args = parser.parse_args()
    if args.ask:
        return ask(args.ask, [int(s) for s in args.seeds.split(",")], args.sample)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # onnxruntime (OCR) and OpenCV stay on 2 cores
    import cv2

    cv2.setNumThreads(args.threads)
    from knowledge.make_sample_chart import SAMPLES
    from rag.documents.chart import ChartUnreadable, read_chart
    from tests import charts

    cases = [(c.name, *charts.draw(c), *charts.expected(c)) for c in charts.CASES]
    cases += [(s.name, s.path.read_bytes(), s.axis_range, s.categories, s.series) for s in SAMPLES]
    refusals = [("pie", charts.pie()), ("candlestick", charts.candlestick()), ("photo_of_screen", charts.photo_of_screen())]
    if args.only:
        cases = [c for c in cases if c[0] in args.only]
        refusals = [r for r in refusals if r[0] in args.only]
    read_chart(cases[0][1] if cases else refusals[0][1]) if cases or refusals else None  # load the OCR engine once

    print("| chart | categories | worst error (% of axis) | from labels / estimated | time (s) |")
    print("|---|---|---|---|---|")
    passed, times = 0, []
    for name, png, axis_range, categories, series in cases:
        start = time.perf_counter()
        try:
            table = read_chart(png)
        except ChartUnreadable as e:
            times.append(time.perf_counter() - start)
            print(f"| {name} | refused: {e} | — | — | {times[-1]:.1f} |")
            continue
        times.append(time.perf_counter() - start)
        order_ok = table.categories == categories
        errors, labelled, estimated = [], 0, 0
        for s, values in enumerate(series.values()):
            column = _column(table, list(series)[s], s)
            for k, truth in enumerate(values):
                cell = table.rows[k][column] if column is not None and k < len(table.rows) else None
                errors.append(abs(cell.value - truth) / axis_range * 100 if cell else float("inf"))
                labelled += bool(cell and cell.from_label)
                estimated += bool(cell and not cell.from_label)
        worst = max(errors)
        passed += order_ok and worst <= 3
        shown = "right" if order_ok else f"got {table.categories}"
        print(f"| {name} | {shown} | {worst:.2f} | {labelled} / {estimated} | {times[-1]:.1f} |")
    for name, png in refusals:
        start = time.perf_counter()
        try:
            read_chart(png)
            verdict = "read (should be refused)"
        except ChartUnreadable as e:
            verdict = f"refused: {e}"
            passed += 1
        times.append(time.perf_counter() - start)
        print(f"| {name} | {verdict} | — | — | {times[-1]:.1f} |")
    total = len(cases) + len(refusals)
    print(f"\n{passed}/{total} charts right (categories in order, every value within 3% of the axis range, "
          f"or refused when unreadable); median {sorted(times)[len(times) // 2]:.1f} s per chart, "
          f"{os.cpu_count()} cores, OCR on {args.threads} threads; load average {os.getloadavg()[0]:.1f}.")


def ask(times: int, seeds: list[int], sample_index: int) -> None:
    from knowledge.make_sample_chart import SAMPLES
    from rag.answer.chart_qa import CHART_SYSTEM_PROMPT, DEFAULT_CHART_QUESTION, chart_prompts
    from rag.defaults import chat_client_from
    from rag.documents.chart import read_chart
    from rag.eval.evaluate import Sampling
    from settings import get_settings

    settings = get_settings()
    name = settings.default_endpoint
    sample = SAMPLES[sample_index]
    plan = chart_prompts({name: "chat"}, sample.path.read_bytes(), "image/png", DEFAULT_CHART_QUESTION,
                         read_chart, CHART_SYSTEM_PROMPT)
    client = chat_client_from(settings, name)
    print(plan.prompts[name].messages[-1]["content"], "\n")
    for seed in seeds:
        for run in range(times):
            start = time.perf_counter()
            answer = "".join(d.text for d in client.stream(plan.prompts[name].messages,
                                                           **{**Sampling().as_kwargs(), "seed": seed})
                             if d.kind == "answer")
            values = [f"{v:g}" for values in sample.series.values() for v in values]
            stated = [v for v in values if v in answer]
            print(f"--- seed {seed}, run {run + 1}: {time.perf_counter() - start:.0f} s; "
                  f"values stated {len(stated)}/{len(values)} (missing: {sorted(set(values) - set(stated))})")
            print(answer.strip(), "\n")


def _column(table, name: str, index: int) -> int | None:
    """The table's column for a series: by its legend name (OCR drops spaces), else by position."""
    names = [n.replace(" ", "") for n in table.series]
    if name.replace(" ", "") in names:
        return names.index(name.replace(" ", ""))
    return index if index < len(table.series) else None


if __name__ == "__main__":
    main()
