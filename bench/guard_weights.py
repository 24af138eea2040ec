"""The guard's whole input pipeline with the shipped weights against another build's, interleaved in one process.

Run: PYTHONPATH=src nice -n 19 .venv/bin/python bench/guard_weights.py --against OLD.npz [--rounds 5] [--write]

OLD.npz is another build's encoder.npz, e.g. the one shipped before a retrain:
    git show HEAD~1:src/weightwarden/data/guard/encoder.npz > /tmp/old_encoder.npz

A retrain changes more than the heads: the gate's threshold (how many texts reach MiniLM) and `top_k` (how many of
a long text's chunks it embeds) are chosen at build time. Each text of bench/guard.py's speed set (64, 512 and 4,000
tokens; mixed traffic, one text in ten attacked) is scanned cold by the default policy with each build's weights,
back to back in alternating order, both reading one MiniLM (the same int8 forward), so both are timed under the same
machine load; on a shared two-core VM that load moves a p50 by more than a retrain does. --write stores the table in
bench/results/guard_weights.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from guard import (
    SIZES,
    cold,
    decoder_share,
    load_slow_layers,
    pct,
    prompts,
    reached,
    run_record,
)  # bench/guard.py, beside this file

RESULTS = Path(__file__).resolve().parent / "results" / "guard_weights.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", type=Path, required=True, help="another build's encoder.npz")
    ap.add_argument("--rounds", type=int, default=5, help="passes over each size's 40 texts")
    ap.add_argument("--write", action="store_true", help=f"store the results in {RESULTS.name}")
    args = ap.parse_args()

    from tokenizers import Tokenizer

    from weightwarden.guard import Guard
    from weightwarden.guard.base import GuardModelError
    from weightwarden.guard.encoder import EncoderModel, bundled_encoder
    from weightwarden.runtimes.artifact import embedder_path

    shipped = bundled_encoder()
    try:
        other = EncoderModel.load(args.against, encoder=shipped._encoder())
    except (OSError, GuardModelError) as exc:
        print(f"error: cannot load {args.against}: {exc}", file=sys.stderr)
        return 2
    for model in (shipped, other):
        load_slow_layers(model)
    tok = Tokenizer.from_file(str(embedder_path() / "tokenizer.json"))
    tok.no_truncation()
    models = {"shipped": shipped, "other": other}
    guards = {side: Guard(encoder=m) for side, m in models.items()}
    scans = {side: cold(g) for side, g in guards.items()}
    load_before = os.getloadavg()
    out: dict[str, Any] = {}

    def share(side: str, texts: list[str]) -> float:
        return round(sum(reached(guards[side].scan_input(t)) for t in texts) / len(texts), 3)

    for size in SIZES:
        texts = prompts(tok, size, 40, seed=size)
        times: dict[str, list[float]] = {"shipped": [], "other": []}
        for scan in scans.values():  # warm both
            scan(texts[0])
        for r in range(args.rounds):
            for i, text in enumerate(texts):
                order = ("shipped", "other") if (i + r) % 2 == 0 else ("other", "shipped")
                for side in order:
                    t0 = time.perf_counter()
                    scans[side](text)
                    times[side].append((time.perf_counter() - t0) * 1000)
        row: dict[str, Any] = {
            side: {
                "p50_ms": round(pct(times[side], 50), 3),
                "p99_ms": round(pct(times[side], 99), 3),
                "mean_ms": round(statistics.mean(times[side]), 3),
                "share_reaching_encoder": share(side, texts),
                "share_reaching_decoder": decoder_share(models[side], texts),
            }
            for side in ("shipped", "other")
        }
        row["shipped_over_other_p50"] = round(row["shipped"]["p50_ms"] / row["other"]["p50_ms"], 3)
        row["shipped_over_other_mean"] = round(row["shipped"]["mean_ms"] / row["other"]["mean_ms"], 3)
        out[str(size)] = row
        s, o = row["shipped"], row["other"]
        print(
            f"{size:5d} tokens: shipped p50 {s['p50_ms']:7.2f} ms (p99 {s['p99_ms']:6.1f}, mean {s['mean_ms']:6.2f}, "
            f"{100 * s['share_reaching_encoder']:.0f}% reach MiniLM, {100 * s['share_reaching_decoder']:.0f}% the "
            f"decoder) | other p50 {o['p50_ms']:7.2f} ms (p99 {o['p99_ms']:6.1f}, mean {o['mean_ms']:6.2f}, "
            f"{100 * o['share_reaching_encoder']:.0f}%, {100 * o['share_reaching_decoder']:.0f}%) | "
            f"shipped/other p50 {row['shipped_over_other_p50']:.3f}x, mean {row['shipped_over_other_mean']:.3f}x",
            file=sys.stderr,
        )
    result = {
        **run_record("guard_weights.py", load_before),
        "what": "the default policy's scan_input, cold, each text timed with the shipped encoder.npz and with "
        "another build's back to back (order alternating), one MiniLM shared",
        "shipped_encoder_sha256": shipped.sha256,
        "other_encoder_sha256": other.sha256,
        "rounds": args.rounds,
        "sizes": out,
    }
    if args.write:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
