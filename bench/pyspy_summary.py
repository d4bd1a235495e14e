"""Summarise `py-spy record --format raw --idle` files: where each process spends its samples.

    python bench/pyspy_summary.py /tmp/pyspy/*.txt [--top 12]

For each file (one process): samples, the share of samples whose innermost frame is a wait
(idle: sleeping, polling, waiting on an event, lock or the GPU), then the top innermost
("self") frames and the top frames counted once per stack ("inclusive"), with their shares.
Used by bench/gpu_verify.sh to find where LightLLM's time per decode step goes.
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

WAIT = re.compile(r"\b(wait|sleep|select|poll|epoll|_recv|recv_pyobj|acquire|synchronize|"
                  r"run_forever|_run_once|get$|join|accept|read)\b|\(threading\.py|\(selectors\.py")


def frames(stack: str) -> list[str]:
    return [f for f in stack.split(";") if f]


def summarise(path: Path, top: int) -> str:
    self_c, incl_c, total, idle = Counter(), Counter(), 0, 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        fs = frames(stack)
        if not fs:
            continue
        total += n
        leaf = fs[-1]
        self_c[leaf] += n
        if WAIT.search(leaf.split(" (")[0]) or WAIT.search(leaf):
            idle += n
        for f in set(fs):
            incl_c[f] += n
    if not total:
        return f"== {path.name}: no samples"
    out = [f"== {path.name}: {total} samples, innermost frame a wait in {idle / total:.0%}"]
    out.append("  self:")
    out += [f"    {n / total:6.1%}  {f[:150]}" for f, n in self_c.most_common(top)]
    out.append("  inclusive:")
    out += [f"    {n / total:6.1%}  {f[:150]}" for f, n in incl_c.most_common(top + 8)]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    for p in args.files:
        print(summarise(p, args.top))


if __name__ == "__main__":
    main()
