"""Which GPU this is and its peak memory bandwidth, for "% of the HBM bound" figures.

`peak_tbps(name)` looks the name nvidia-smi / torch report up in a table of vendors' datasheet
peaks (HBM or GDDR, TB/s); `measured_copy_tbps()` times a large device-to-device copy (bytes
read + written) as a check on the table: on an H200 it moves ~4.3 TB/s of the 4.8 peak, on an
H100 SXM ~3.0 of 3.35. An unknown GPU gets no bound rather than a guessed one.

    python bench/gpu_info.py          # name, table peak, measured copy
"""
from __future__ import annotations

import json
import subprocess

# Datasheet peak memory bandwidth, TB/s, keyed by a part of the reported name. Longest match
# wins, so "H100 PCIe" beats "H100". Names as nvidia-smi prints them ("NVIDIA H200",
# "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", ...).
PEAK_TBPS = {
    "B200": 8.0, "GB200": 8.0, "B100": 8.0,
    "H200": 4.8, "H200 NVL": 4.8, "GH200": 4.0, "H20": 4.0,
    "H100": 3.35, "H100 80GB HBM3": 3.35, "H100 SXM": 3.35, "H800": 3.35,
    "H100 PCIe": 2.0, "H100 NVL": 3.9, "H100 94GB": 3.9,
    "A100-SXM4-80GB": 2.039, "A100-SXM4-40GB": 1.555, "A100 80GB PCIe": 1.935, "A100-PCIE-40GB": 1.555,
    "A800": 2.039, "L40S": 0.864, "L40": 0.864, "L4": 0.3, "A10G": 0.6, "A10": 0.6,
    "RTX 4090": 1.008, "RTX 6000 Ada": 0.96, "V100": 0.9,
}  # fmt: skip


def peak_tbps(name: str | None) -> float | None:
    """The table's peak for a GPU name, or None when no entry matches."""
    if not name:
        return None
    upper = name.upper()
    hits = [k for k in PEAK_TBPS if k.upper() in upper]
    return PEAK_TBPS[max(hits, key=len)] if hits else None


def gpu_name(index: int = 0) -> str | None:
    """The GPU's name from nvidia-smi (no torch needed), else torch, else None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", f"--id={index}"],
                             capture_output=True, text=True, timeout=20)  # fmt: skip
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(index)
    except ImportError:
        pass
    return None


def measured_copy_tbps(gib: float = 4.0, repeats: int = 20) -> float | None:
    """Device-to-device copy of `gib` GiB, (read + written bytes) / median time; None without CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    n = int(gib * (1 << 30)) // 2
    src = torch.randn(n, device="cuda", dtype=torch.bfloat16)  # random data: zeros can run faster
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    del src, dst
    torch.cuda.empty_cache()
    times.sort()
    return 2 * n * 2 / times[len(times) // 2] / 1e12


def describe(measure: bool = True) -> dict:
    name = gpu_name()
    return {"gpu": name, "peak_tbps": peak_tbps(name), "copy_tbps": measured_copy_tbps() if measure else None}


if __name__ == "__main__":
    print(json.dumps(describe(), indent=2))
