"""The guard's quality out of source: leave-one-source-out tables, false-positive rates per benign kind, and the
held-out sources scored once - the headline figures. In-source folds are printed beside them, marked as such.

Run (prints the stored build-time results):
    .venv/bin/python bench/guard_quality.py [--json]
Rerun the measurement (retrains: every fold and the final heads; rewrites the weights and the results):
    .venv/bin/python bench/guard_quality.py --rerun --wheels /tmp/gsrc --static /tmp/static256
which runs `PYTHONPATH=src:. python -m training.guard.train` with the wheels and static folder given and every
other option the stored results were built with (their `command`: today `--top-k 3 --decoder 16`), so the rebuild
is the shipped build (see the data card for the `pip download` lines and how to distil the static folder). The
results live in bench/results/guard_quality.json with the command and the date.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "guard_quality.json"


def ci(v: list[float]) -> str:
    return f"[{v[0]:.3f}, {v[1]:.3f}]"


def tables(r: dict[str, Any]) -> str:
    out = [
        f"measured {r['measured_at']} by `{r['command']}`",
        f"encoder sha256 {r['encoder_sha256'][:16]}, corpus {r['corpus']}",
        "",
        "## Leave-one-source-out (headline): each text scored by heads trained without its source",
        "",
        "| label | pos | neg | AUC (95% CI) | recall @1% FPR (CI) | recall @2% FPR (CI) | threshold | recall | FPR "
        "| blocks from | recall blocked | FPR blocked |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for la, m in r["leave_one_source_out"]["labels"].items():
        blocks = (
            f"| {m['blocks_from']:.4f} | {m['recall_blocked']:.3f} | {m['fpr_blocked']:.4f} |"
            if "blocks_from" in m
            else "| never | | |"
        )
        out.append(
            f"| {la} | {m['positives']} | {m['negatives']} | {m['auc']:.3f} {ci(m['auc_95ci'])} "
            f"| {m['recall_at_1pct_fpr']:.3f} {ci(m['recall_at_1pct_fpr_95ci'])} "
            f"| {m['recall_at_2pct_fpr']:.3f} {ci(m['recall_at_2pct_fpr_95ci'])} "
            f"| {m['threshold']:.3f} | {m['recall_at_threshold']:.3f} | {m['fpr_at_threshold']:.4f} " + blocks
        )
    g = r["leave_one_source_out"]["gate"]
    out += [
        "",
        f"gate: threshold {g['threshold']:.4f}; {100 * g['attacks_passed']:.1f}% of out-of-source attacks pass it, "
        f"{100 * g['benign_reaching_encoder']:.1f}% of out-of-source benign texts reach the encoder",
        "",
        "### Per source (left out in turn): recall of its attacks at the policy thresholds, FPR of its benign texts",
        "",
        "| source | texts | recall injection | recall jailbreak | recall harmful | benign | FPR (any label) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["leave_one_source_out"]["sources"]:

        def cell(la: str, row: dict[str, Any] = row) -> str:
            return f"{row[f'recall_{la}']:.3f} ({row[f'n_{la}']})" if f"recall_{la}" in row else ""

        fpr = f"{row['fpr_any']:.3f}" if "fpr_any" in row else ""
        out.append(
            f"| {row['source']} | {row['texts']} | {cell('injection')} | {cell('jailbreak')} | {cell('harmful')} "
            f"| {row.get('benign', '')} | {fpr} |"
        )
    out += [
        "",
        "## False-positive rate per benign kind (out of source; default policy)",
        "",
        "| kind | texts | flagged (any label) | blocked | injection | jailbreak | harmful | sources |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, k in r["leave_one_source_out"]["kinds"].items():
        out.append(
            f"| {kind} | {k['texts']} | {k['flagged']:.3f} | {k['blocked']:.3f} | {k['fpr_injection']:.3f} "
            f"| {k['fpr_jailbreak']:.3f} | {k['fpr_harmful']:.3f} | {', '.join(k['sources'])} |"
        )
    h = r["held_out"]
    out += [
        "",
        f"## Held-out sources, scored once by the final heads: {', '.join(h['sources'])}",
        "",
        "| label | pos | neg | AUC | recall @1% FPR | recall @2% FPR | recall at threshold | FPR at threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for la, m in h["labels"].items():
        out.append(
            f"| {la} | {m['positives']} | {m['negatives']} | {m['auc']:.3f} | {m['recall_at_1pct_fpr']:.3f} "
            f"| {m['recall_at_2pct_fpr']:.3f} | {m['recall_at_threshold']:.3f} | {m['fpr_at_threshold']:.4f} |"
        )
    for row in h["rows"]:
        out.append(f"- {json.dumps(row)}")
    out += [
        "",
        f"policy defaults: thresholds {r['thresholds']}, actions {r['actions']}, "
        f"block_above {r.get('block_above', {})}",
        f"(thresholds at 1% of all out-of-source benign texts pooled: {r.get('thresholds_pooled', 'not recorded')}; "
        "the policy's are raised where needed so the labels together flag at most 2% of every benign kind)",
        "",
        "## In-source 5-fold (same distribution in train and test; NOT the headline)",
        "",
        "| label | AUC | recall @1% FPR | recall @2% FPR |",
        "|---|---|---|---|",
    ]
    for la, m in r["in_source_5fold_not_headline"].items():
        out.append(f"| {la} | {m['auc']:.3f} | {m['recall_at_1pct_fpr']:.3f} | {m['recall_at_2pct_fpr']:.3f} |")
    return "\n".join(out)


def rerun_options(command: str) -> list[str]:
    """The options of the stored build's train.py command other than its wheels and static folders (and their
    values), which the user gives again: the rest is what makes the rebuild the shipped build."""
    tokens = shlex.split(command)
    if "training.guard.train" not in tokens:
        raise ValueError(f"the stored command is not a training.guard.train run: {command!r}")
    opts = tokens[tokens.index("training.guard.train") + 1 :]
    out: list[str] = []
    skip = False
    for tok in opts:
        if skip:
            skip = False
        elif tok in ("--wheels", "--static", "--cache", "--out", "--results", "--scores"):
            skip = True  # a path of the machine it ran on
        elif not tok.startswith(("--wheels=", "--static=", "--cache=", "--out=", "--results=", "--scores=")):
            out.append(tok)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rerun", action="store_true", help="retrain and remeasure (needs --wheels)")
    ap.add_argument("--wheels", type=Path, help="folder holding the downloaded wheels")
    ap.add_argument("--static", type=Path, help="the distilled static folder (training/guard/static.py distill)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.rerun:
        if args.wheels is None:
            ap.error("--rerun needs --wheels DIR")
        env_path = f"{ROOT / 'src'}:{ROOT}"
        stored = json.loads(RESULTS.read_text(encoding="utf-8"))
        try:
            options = rerun_options(str(stored.get("command", "")))
        except ValueError as exc:
            ap.error(str(exc))
        cmd = [sys.executable, "-m", "training.guard.train", "--wheels", str(args.wheels)]
        if args.static is not None:
            cmd += ["--static", str(args.static)]
        elif "--static" in str(stored.get("command", "")):
            print("no --static: the rebuilt model has no static layer (the shipped one has)", file=sys.stderr)
        cmd += options
        print("running: " + " ".join(cmd[1:]), file=sys.stderr)
        subprocess.run(cmd, check=True, cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": env_path})
    r = json.loads(RESULTS.read_text(encoding="utf-8"))
    print(json.dumps(r, indent=1) if args.json else tables(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
