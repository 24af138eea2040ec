"""Shared fixtures: the real default model, loaded once per session, and an isolated WARDEN_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from weightwarden.runtimes import Artifact, HashCache, resolve
from weightwarden.runtimes.llamacpp import LlamaCppRuntime


@pytest.fixture(scope="session")
def default_artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    return resolve("default", HashCache(tmp_path_factory.mktemp("cache") / "hash-cache.json"))


@pytest.fixture(scope="session")
def llama(default_artifact: Artifact) -> Iterator[LlamaCppRuntime]:
    assert default_artifact.path is not None
    # WARDEN_THREADS as the CLI reads it: llama.cpp's threads spin, so all cores on a shared machine crawl. The
    # thread count can change sums (llama.cpp splits attention over a cache of 512+ cells among its threads), so
    # tests compare words only between calls on one runtime object.
    threads = int(os.environ.get("WARDEN_THREADS") or 0)
    rt = LlamaCppRuntime(default_artifact.path, n_ctx=2048, threads=threads)
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def hf_gguf(default_artifact: Artifact):  # type: ignore[no-untyped-def]
    """transformers on the very same GGUF file (dequantized), the independent reference for llama.cpp."""
    from weightwarden.runtimes.hf import TransformersRuntime

    assert default_artifact.path is not None
    rt = TransformersRuntime(default_artifact.path)
    yield rt
    rt.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty WARDEN_HOME so tests never touch the user's ledger."""
    h = tmp_path / "home"
    monkeypatch.setenv("WARDEN_HOME", str(h))
    return h


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(home: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the real `warden` entry point in a subprocess: real exit codes, real stderr."""

    def run(*args: str, stdin: str | None = None, timeout: float = 900) -> CliResult:
        env = {**os.environ, "WARDEN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "weightwarden.cli.main", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=tmp_path,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
