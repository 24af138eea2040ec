"""Hash a model's files (streamed, through the HashCache) and name the model by one sha256, as resolve() does."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from weightwarden.runtimes.artifact import HashCache, Progress


def model_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of every file in a model folder, hidden files left out: the set resolve() hashes."""
    return [
        (str(p.relative_to(folder)), p) for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")
    ]


def folder_digest(hashes: Mapping[str, str]) -> str:
    """The folder's identity: sha256 of its sorted "name hash" lines (the formula of runtimes.artifact.resolve)."""
    return hashlib.sha256("\n".join(f"{k} {v}" for k, v in sorted(hashes.items())).encode()).hexdigest()


def hash_files(
    files: list[tuple[str, Path]],
    cache: HashCache,
    progress: Progress | None = None,
    known: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """sha256 of each file, one progress bar over all their bytes; `known` hashes (name -> hex) are not re-read."""
    total = sum(p.stat().st_size for _, p in files)
    done = 0
    out: dict[str, str] = {}
    for rel, path in files:
        size = path.stat().st_size
        if known and rel in known:
            out[rel] = known[rel]
        else:
            base = done

            def step(n: int, _total: int, base: int = base) -> None:
                if progress is not None:
                    progress(base + n, total)

            out[rel] = cache.sha256(path, step)
        done += size
        if progress is not None:
            progress(done, total)
    return out
