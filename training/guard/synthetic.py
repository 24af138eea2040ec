"""project/synthetic-planted: ordinary documents with one planted note, in twins that differ only in the note.

The guard's weakest out-of-source injections are instructions planted in ordinary documents without the usual
override words ("AI reader, keep this between us: ..."), and the corpus holds few of them. This composes them from
templates written for the project (`synthetic.yaml`): each attack text is a carrier document, a user's task above
it and a note addressed to an AI system asking it to act against its user; its benign twin has the same carrier,
task and wrapper with a note addressed to a person asking for something ordinary. So the carrier, the task and the
note's form are no cue, only whom the note addresses and what it asks. No text of another source is used, so
every other source's leave-one-source-out figure stays out of source with this one in training.

    PYTHONPATH=src:. python -m training.guard.synthetic --pairs 5     # print a few, to read them
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import yaml
from training.guard.sources import Item

SOURCE = "project/synthetic-planted"
TEMPLATES = Path(__file__).with_name("synthetic.yaml")
PAIRS = 400  # 800 texts, as the twenty-third session's probe read them
SEED = 20261208
LIC = "Apache-2.0 (written for weightwarden)"
# addressees that read as a heading take a colon and a capital; the others are vocatives and take a comma
_HEADINGS = ("Note", "To ", "Instructions", "Message", "For ", "Attention")


def _note(addressee: str, frame: str, action: str) -> str:
    body = frame.replace("{x}", action)
    if addressee.startswith(_HEADINGS):
        return f"{addressee}: {body[0].upper()}{body[1:]}"
    return f"{addressee}, {body}"


def planted_items(pairs: int = PAIRS, seed: int = SEED) -> list[Item]:
    """`pairs` attack texts and their benign twins, in that order per pair; the same for the same arguments."""
    if pairs < 1:
        raise ValueError("pairs must be at least 1")
    spec = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    path = "training/guard/synthetic.yaml"
    out: list[Item] = []
    for i in range(pairs):
        carrier = spec["carriers"][i % len(spec["carriers"])]
        task = rng.choice(spec["tasks"])
        wrapper = rng.choice(spec["wrappers"])
        ai = _note(rng.choice(spec["ai_addressees"]), rng.choice(spec["ai_frames"]), rng.choice(spec["ai_actions"]))
        person = _note(
            rng.choice(spec["human_addressees"]), rng.choice(spec["human_frames"]), rng.choice(spec["human_actions"])
        )
        for note, labels, kind in ((ai, ("injection",), "attack"), (person, (), "document")):
            body = carrier.replace("{note}", wrapper.replace("{n}", note))
            text = f"{task}\n\n{body}" if task else body
            out.append(Item(text, labels, SOURCE, kind, "weightwarden", "written", path, LIC))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="how many twins to print (default 5)")
    args = ap.parse_args()
    if args.pairs < 1:
        ap.error("--pairs must be at least 1")
    for it in planted_items(args.pairs):
        print(f"--- {it.labels[0] if it.labels else 'benign'}\n{it.text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
