"""The installed llama.cpp build runs on any x86-64 with AVX2, and says how to rebuild if not.

The first test is the one that would have caught issue 19: README command 1 compiled
llama.cpp for the build machine's CPU (GGML_NATIVE), and the answer died with SIGILL on a
VM. The same check is shown to fail on real native builds' feature strings. No model needed.
"""
from __future__ import annotations

import os
import shlex
import textwrap

import pytest

from server import llama_build
from server.__main__ import main as server_cli
from settings import ROOT

# llama_print_system_info() of real native builds (GGML_NATIVE=ON), captured from runs:
# AMD EPYC (Zen 4), the dev machine: `CMAKE_ARGS=-DGGML_NATIVE=ON pip install --no-cache-dir
# --no-deps --no-build-isolation --target /tmp/native-llama llama_cpp_python-0.3.36.tar.gz`
# (docs/portability.md); test_the_check_fails_on_a_real_native_install runs the check on it.
NATIVE_ZEN4 = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
               "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | OPENMP = 1 | "
               "REPACK = 1 | ")
# Intel Xeon VM (the lent device machine, Firecracker): ggml of llama-cpp-python 0.3.36's
# vendored llama.cpp built there with -DGGML_NATIVE=ON, run through the llama.cpp API
# (llama_print_system_info() of the device run, 2026-12-05).
NATIVE_XEON = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
               "BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | "
               "AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")
# The portable build of requirements.txt, as installed by README command 1.
PORTABLE = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
            "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the rule is for x86-64")


@pytest.fixture(autouse=True)
def fresh_inspect():
    llama_build.inspect.cache_clear()
    yield
    llama_build.inspect.cache_clear()


def test_installed_build_is_portable():
    build = llama_build.inspect()
    assert build.failure is None, build.failure
    assert build.features.get("AVX2"), f"no CPU features read from {build.system_info!r}"
    assert llama_build.non_portable() == [], llama_build.warning()
    assert llama_build.warning() is None


@pytest.mark.parametrize("native, expected", [
    (NATIVE_ZEN4, ["AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"]),
    (NATIVE_XEON, ["AVX_VNNI", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8"]),
])
def test_the_check_fails_on_a_native_build(native, expected):
    assert llama_build.non_portable_features(llama_build.parse_system_info(native)) == expected
    assert llama_build.non_portable_features(llama_build.parse_system_info(PORTABLE)) == []


@pytest.mark.skipif(not os.environ.get("NATIVE_LLAMA_DIR"),
                    reason="set NATIVE_LLAMA_DIR to a native build (pip install --target DIR)")
def test_the_check_fails_on_a_real_native_install(monkeypatch, capsys):
    """The check run on a real GGML_NATIVE=ON install put first on the probe's path."""
    monkeypatch.setenv("PYTHONPATH", os.environ["NATIVE_LLAMA_DIR"])
    build = llama_build.inspect()
    assert build.failure is None, build.failure
    assert str(build.lib_dir).startswith(os.environ["NATIVE_LLAMA_DIR"])
    assert "AVX512" in llama_build.non_portable()
    assert llama_build.warn_if_not_portable() is True
    assert "not portable" in capsys.readouterr().err


def test_a_portable_build_prints_no_warning(capsys):
    assert llama_build.warn_if_not_portable() is False
    assert capsys.readouterr().err == ""


def _fake_llama_cpp(tmp_path, body: str, variants: tuple[str, ...] = ()):
    """A stand-in `llama_cpp` package first on the child's path: a native build cannot be
    installed beside the real one, and a SIGILL at import cannot be provoked otherwise."""
    pkg = tmp_path / "llama_cpp"
    (pkg / "lib").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(body))
    for name in variants:
        (pkg / "lib" / name).write_bytes(b"")
    return tmp_path


def test_a_native_build_is_reported_with_the_fix(tmp_path, monkeypatch, capsys):
    site = _fake_llama_cpp(tmp_path, f"""
        def llama_print_system_info():
            return {NATIVE_ZEN4.encode()!r}
    """)
    monkeypatch.setenv("PYTHONPATH", str(site))
    assert llama_build.non_portable() == ["AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"]
    assert server_cli(["build"]) == 1
    out = capsys.readouterr().out
    assert "NOT portable" in out and "SIGILL" in out and llama_build.REINSTALL_HINT in out


def test_runtime_cpu_variants_count_as_portable(tmp_path, monkeypatch):
    site = _fake_llama_cpp(tmp_path, f"""
        def llama_print_system_info():
            return {NATIVE_ZEN4.encode()!r}
    """, variants=("libggml-cpu-haswell.so", "libggml-cpu-sapphirerapids.so"))
    monkeypatch.setenv("PYTHONPATH", str(site))
    assert llama_build.inspect().cpu_variants == ["libggml-cpu-haswell.so", "libggml-cpu-sapphirerapids.so"]
    assert llama_build.non_portable() == []


def test_a_build_that_dies_at_import_is_named(tmp_path, monkeypatch):
    site = _fake_llama_cpp(tmp_path, """
        import os, signal
        os.kill(os.getpid(), signal.SIGILL)
    """)
    monkeypatch.setenv("PYTHONPATH", str(site))
    (reason,) = llama_build.non_portable()
    assert "SIGILL" in reason and "CPU instructions" in reason


def _requirement_line() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    (line,) = [x for x in lines if x.startswith("llama-cpp-python")]
    return shlex.split(line)


def test_reinstall_hint_builds_what_requirements_txt_builds():
    requirement, *settings = _requirement_line()
    hint = shlex.split(llama_build.REINSTALL_HINT)
    assert hint[:2] == ["pip", "install"]
    assert {"--no-cache-dir", "--force-reinstall"} <= set(hint)  # never a cached native wheel
    assert requirement in hint
    assert [x for x in hint if x.startswith("--config-settings")] == settings
    assert "--config-settings=cmake.define.GGML_NATIVE=OFF" in settings
