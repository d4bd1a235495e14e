"""Is the installed llama.cpp build portable: does it run on any x86-64 machine with AVX2?

Owns reading what the installed llama-cpp-python build was compiled for (llama.cpp's
`llama_print_system_info()`: "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | ...", compile-time
flags of the CPU backend) and the rule: nothing beyond the AVX2 baseline (SSE3, SSSE3, AVX,
AVX2, F16C, FMA, BMI2) may be compiled in, unless the build picks its CPU variant at run
time (GGML_BACKEND_DL: several libggml-cpu-*.so beside libllama.so). A source build with
llama.cpp's default GGML_NATIVE=ON is compiled for the build machine's CPU and dies with
SIGILL on a CPU (or VM) that does not execute those instructions (docs/portability.md).

The features are read in a child process: importing a native build on a machine without
its instructions can itself die with SIGILL, and the caller (the app, the supervisor
explaining a crash) must survive that. Does not rebuild anything (REINSTALL_HINT says how)
and does not watch the server (server/supervisor.py). x86-64 only: on another processor
nothing is reported as non-portable.
"""
from __future__ import annotations

import functools
import platform
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

# The AVX2 baseline the build may use, and flags of ggml's list that are not instruction sets.
PORTABLE_ISA = ("SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2")
NOT_ISA = ("LLAMAFILE", "OPENMP", "REPACK", "ACCELERATE", "CPU_HBM", "KLEIDIAI")
X86_MACHINES = ("x86_64", "amd64")
PROBE_TIMEOUT_S = 60.0

# The same package and CMake settings as requirements.txt's llama-cpp-python line
# (tests/test_portability.py checks they match). --no-cache-dir: pip's wheel cache is keyed
# by the sdist's URL and hash, not by --config-settings, so a cached native wheel would
# otherwise be installed again.
REINSTALL_HINT = (
    'pip install --no-cache-dir --force-reinstall --no-deps --no-binary llama-cpp-python '
    '"llama-cpp-python[server]==0.3.36" '
    "--config-settings=cmake.define.GGML_NATIVE=OFF "
    "--config-settings=cmake.define.GGML_AVX=ON "
    "--config-settings=cmake.define.GGML_AVX2=ON "
    "--config-settings=cmake.define.GGML_FMA=ON "
    "--config-settings=cmake.define.GGML_F16C=ON "
    "--config-settings=cmake.define.GGML_BMI2=ON "
    "--config-settings=cmake.define.GGML_AVX512=OFF"
)

_PROBE = (
    "import os, sys, llama_cpp\n"
    "print(os.path.join(os.path.dirname(llama_cpp.__file__), 'lib'))\n"
    "print(llama_cpp.llama_print_system_info().decode())\n"
)


@dataclass(frozen=True)
class LlamaBuild:
    """What the installed build reports. `failure` is set when it could not be asked."""

    system_info: str = ""
    lib_dir: Path | None = None
    failure: str | None = None
    features: dict[str, bool] = field(default_factory=dict)

    @property
    def cpu_variants(self) -> list[str]:
        """libggml-cpu-*.so files: a GGML_BACKEND_DL build that picks one at run time."""
        if self.lib_dir is None or not self.lib_dir.is_dir():
            return []
        return sorted(p.name for p in self.lib_dir.glob("libggml-cpu-*.so"))


def parse_system_info(text: str) -> dict[str, bool]:
    """The CPU backend's flags from llama_print_system_info(): {"AVX2": True, ...}.

    Other backends' entries ("CUDA : ARCHS = 890 | ...") are skipped; a value other than
    "0" (SVE_CNT = 16) counts as compiled in.
    """
    features: dict[str, bool] = {}
    backend = ""
    for part in text.split("|"):
        if " : " in part:
            backend, _, part = part.partition(" : ")
            backend = backend.strip()
        key, eq, value = part.partition("=")
        if eq and backend == "CPU":
            features[key.strip()] = value.strip() != "0"
    return features


def non_portable_features(features: dict[str, bool], cpu_variants: Sequence[str] = ()) -> list[str]:
    """Instruction sets compiled in beyond the AVX2 baseline; none when dispatched at run time."""
    if cpu_variants:
        return []
    allowed = set(PORTABLE_ISA) | set(NOT_ISA)
    return [name for name, on in features.items() if on and name not in allowed]


@functools.lru_cache(maxsize=1)
def inspect() -> LlamaBuild:
    """Ask the installed llama_cpp, in a child process, what it was compiled for (cached)."""
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return LlamaBuild(failure=f"importing llama_cpp took over {PROBE_TIMEOUT_S:.0f} s")
    if done.returncode != 0:
        return LlamaBuild(failure=_failure(done.returncode, done.stderr))
    lib_dir, _, info = done.stdout.partition("\n")
    return LlamaBuild(info.strip(), Path(lib_dir), None, parse_system_info(info))


def _failure(returncode: int, stderr: str) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        if -returncode == signal.SIGILL:
            return (f"importing llama_cpp was killed by {name}: the build uses CPU instructions "
                    "this machine does not execute")
        return f"importing llama_cpp was killed by {name}"
    last = stderr.strip().splitlines()[-1:] or ["no message"]
    return f"importing llama_cpp failed: {last[0]}"


def features() -> dict[str, bool]:
    """The installed build's CPU flags ({} when it could not be asked)."""
    return dict(inspect().features)


def non_portable() -> list[str]:
    """What keeps the installed build from running on any x86-64 with AVX2 ([] when portable).

    A build that could not even be imported is reported by its failure.
    """
    if platform.machine().lower() not in X86_MACHINES:
        return []
    build = inspect()
    if build.failure:
        return [build.failure]
    return non_portable_features(build.features, build.cpu_variants)


def warning() -> str | None:
    """One message for a start-up log when the build is not portable, else None."""
    bad = non_portable()
    if not bad:
        return None
    return (f"the installed llama.cpp build is not portable ({', '.join(bad)}): it was compiled "
            "for the build machine's CPU and dies with SIGILL (Illegal instruction) where those "
            f"instructions do not run. Reinstall it with: {REINSTALL_HINT}")


def warn_if_not_portable(stream=None) -> bool:
    """Print warning() as one line to stderr (the start of `python -m server embedded`, the
    app's first server start); True when the build is not portable. Never raises."""
    message = warning()
    if message:
        print(f"WARNING: {message}", file=stream or sys.stderr, flush=True)
    return message is not None
