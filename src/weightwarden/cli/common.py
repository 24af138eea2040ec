"""What every command shares: settings, the ledger, resolving a model with a progress bar, printing errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer

from weightwarden.cli.output import console, err_console
from weightwarden.cli.progress import Reporter
from weightwarden.config import Settings, load_settings
from weightwarden.runtimes import Artifact, Backend, HashCache, Runtime, load_runtime, resolve

__all__ = ["console", "err_console"]

HASH_QUIET_SECONDS = 2.0  # hashing a small model is over before a progress line would help

DbOption = Annotated[
    str | None, typer.Option("--db", help="Ledger: a SQLite file or a postgresql+psycopg:// URL.", show_default=False)
]
BackendOption = Annotated[
    str,
    typer.Option("--backend", help="How to run a local model: auto (llama.cpp for GGUF), llama.cpp or transformers."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress (bars or log lines) and no chatter.")]


def settings(**overrides: Any) -> Settings:
    return load_settings(overrides=overrides)


def resolve_model(ref: str, s: Settings, quiet: bool = False) -> Artifact:
    """Resolve a model reference, showing a hashing progress bar for big files seen for the first time."""
    cache = HashCache(s.home / "hash-cache.json")
    if quiet:
        return resolve(ref, cache)
    with Reporter("hashing", in_bytes=True, after=HASH_QUIET_SECONDS) as report:
        return resolve(ref, cache, lambda done, total: report.update(done, total, stage=ref))


def check_backend(backend: str) -> Backend:
    if backend not in ("auto", "llama.cpp", "transformers"):
        raise typer.BadParameter(
            f"unknown backend {backend!r}: use auto, llama.cpp or transformers", param_hint="--backend"
        )
    return cast(Backend, backend)


def open_runtime(artifact: Artifact, backend: str, s: Settings) -> Runtime:
    """Load the model with the backend the user asked for and the settings' context, threads and timeout."""
    return load_runtime(artifact, check_backend(backend), n_ctx=s.n_ctx, threads=s.threads, timeout=s.timeout)


def report_root(s: Settings) -> Path:
    return s.report_dir
