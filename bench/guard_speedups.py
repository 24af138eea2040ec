"""The guard's whole input pipeline with and without this round's two speed-ups, interleaved in one process.

Run: PYTHONPATH=src nice -n 19 .venv/bin/python bench/guard_speedups.py [--rounds 6] [--write]

Each text of bench/guard.py's speed set (64, 512 and 4,000 tokens; mixed traffic, one text in ten attacked) is
scanned cold by the default guard twice in a row, in alternating order: once as shipped (the gate's character
n-grams hashed with numpy, query/key/value in one int8 call per layer) and once as before (scikit-learn's
HashingVectorizer, three calls). Both paths give the same scores (tests/test_guard_encoder.py checks the matrix and
the vectors); interleaving text by text puts both under the same machine load, which on a shared two-core VM moves
a p50 by more than the change measured. --write stores the table in bench/results/guard_speedups.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from guard import SIZES, cold, pct, prompts, reached, run_record  # bench/guard.py, beside this file

RESULTS = Path(__file__).resolve().parent / "results" / "guard_speedups.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6, help="passes over each size's 40 texts")
    ap.add_argument("--write", action="store_true", help=f"store the results in {RESULTS.name}")
    args = ap.parse_args()

    from tokenizers import Tokenizer

    from weightwarden.guard import Guard
    from weightwarden.guard.encoder import bundled_encoder
    from weightwarden.runtimes.artifact import embedder_path

    tok = Tokenizer.from_file(str(embedder_path() / "tokenizer.json"))
    tok.no_truncation()
    guard = Guard()
    model = bundled_encoder()
    assert model.gate is not None
    shipped_gate = model.gate
    chars = shipped_gate.vectorizer.parts[0]
    older_gate = dataclasses.replace(
        shipped_gate,
        vectorizer=dataclasses.replace(
            shipped_gate.vectorizer, parts=(chars.reference, *shipped_gate.vectorizer.parts[1:])
        ),
    )
    encoder = model._encoder()
    fused = encoder.qkv

    def configure(new: bool) -> None:
        model.gate = shipped_gate if new else older_gate
        encoder.qkv = fused if new else None

    scan = cold(guard)
    load_before = os.getloadavg()
    out: dict[str, Any] = {}
    for size in SIZES:
        texts = prompts(tok, size, 40, seed=size)
        times: dict[bool, list[float]] = {True: [], False: []}
        for new in (True, False):  # warm both paths
            configure(new)
            scan(texts[0])
        for r in range(args.rounds):
            for i, text in enumerate(texts):
                order = (True, False) if (i + r) % 2 == 0 else (False, True)
                for new in order:
                    configure(new)
                    t0 = time.perf_counter()
                    scan(text)
                    times[new].append((time.perf_counter() - t0) * 1000)
        configure(True)
        share = sum(reached(guard.scan_input(t)) for t in texts) / len(texts)
        row = {
            side: {
                "p50_ms": round(pct(times[new], 50), 3),
                "p99_ms": round(pct(times[new], 99), 3),
                "mean_ms": round(statistics.mean(times[new]), 3),
            }
            for side, new in (("shipped", True), ("before", False))
        }
        row["share_reaching_encoder"] = round(share, 3)
        row["ratio_p50"] = round(row["before"]["p50_ms"] / row["shipped"]["p50_ms"], 3)
        row["ratio_mean"] = round(row["before"]["mean_ms"] / row["shipped"]["mean_ms"], 3)
        out[str(size)] = row
        print(
            f"{size:5d} tokens: shipped p50 {row['shipped']['p50_ms']:7.2f} ms (p99 {row['shipped']['p99_ms']:6.1f}, "
            f"mean {row['shipped']['mean_ms']:6.2f}) | before p50 {row['before']['p50_ms']:7.2f} ms "
            f"(p99 {row['before']['p99_ms']:6.1f}, mean {row['before']['mean_ms']:6.2f}) | "
            f"before/shipped p50 {row['ratio_p50']:.3f}x, mean {row['ratio_mean']:.3f}x; "
            f"{100 * share:.0f}% reach the encoder",
            file=sys.stderr,
        )
    result = {
        **run_record("guard_speedups.py", load_before),
        "what": "the default guard's scan_input, cold, each text timed with and without the two speed-ups back to "
        "back (order alternating); 'before' = scikit-learn's HashingVectorizer for the gate's character n-grams "
        "and separate query/key/value int8 calls",
        "rounds": args.rounds,
        "sizes": out,
    }
    if args.write:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
