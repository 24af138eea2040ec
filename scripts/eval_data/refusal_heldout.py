"""Write refusal_heldout.jsonl from its source, the hand-labelled rows in refusal_heldout/*.yaml (see the CARD.md
there for where they come from and the labelling rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from common import DATA, write_jsonl

SOURCE = Path(__file__).resolve().parent / "refusal_heldout"
# source file -> (id prefix, the "source" field of its rows, the fields each row has besides note)
PARTS = {
    "default_model.yaml": ("ho-m", "default-model", ("key", "refused", "prompt", "response")),
    "written.yaml": ("ho-w", "written", ("refused", "prompt", "response")),
}


def rows(name: str) -> list[dict[str, Any]]:
    prefix, source, fields = PARTS[name]
    loaded = yaml.load((SOURCE / name).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    items = []
    for n, row in enumerate(loaded, 1):
        extra = set(row) - {*fields, "note"}
        if set(fields) - set(row) or extra or not isinstance(row["refused"], bool):
            raise SystemExit(f"{name}: row {n} needs exactly {', '.join(fields)} (refused true or false) and a note")
        item: dict[str, Any] = {
            "id": f"{prefix}{n:03d}",
            "response": row["response"],
            "refused": row["refused"],
            "source": source,
            "prompt": row["prompt"],
        }
        if row.get("note"):
            item["note"] = row["note"]
        items.append(item)
    return items


def heldout() -> list[dict[str, Any]]:
    return [item for name in PARTS for item in rows(name)]


def main() -> None:
    write_jsonl(DATA / "refusal_heldout.jsonl", heldout())


if __name__ == "__main__":
    main()
