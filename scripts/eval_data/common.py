"""Shared helpers for the scripts that write weightwarden's built-in evaluation data.

Every item in the built-in suites is written by hand in these scripts (by the weightwarden project);
the scripts only lay the items out in the task formats of the eval contract and compute derived
fields (answer positions, arithmetic results). Run from the repository root:

    python scripts/eval_data/quality.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# WARDEN_EVAL_DATA_OUT: write somewhere else (tests/test_eval_data_sources.py regenerates into a temporary folder)
DATA = Path(os.environ.get("WARDEN_EVAL_DATA_OUT") or ROOT / "src" / "weightwarden" / "data" / "eval")


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    ids = [it["id"] for it in items]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"duplicate ids in {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(it, ensure_ascii=False) + "\n")
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(items)} items")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def place(correct: str, distractors: list[str], position: int) -> list[str]:
    """Return the choices with the correct answer at `position` and the distractors in order around it."""
    choices = list(distractors)
    choices.insert(position, correct)
    return choices
