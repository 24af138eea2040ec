"""Install a guard build's weights in the package, for good or for the length of one command.

    PYTHONPATH=src:. python -m training.guard.install /tmp/build                    # ship it
    PYTHONPATH=src:. python -m training.guard.install /tmp/build --run -- \\
        .venv/bin/python -m pytest -q tests/test_guard_pipeline.py                  # try it, then put back

A build of training/guard/train.py writes, into its --out folder, the files the run time reads (encoder.npz,
train_fingerprints.npz, policy.default.yaml and model.json, whose stored figures the audit checks against the
weights) and, at --results, the quality figures bench/results/guard_quality.json holds. Installing a build copies
all five and rewrites the data card's sources table from the build's figures (the rest of the card is left as it is
in the repository, so notes written while the build ran are kept).

With --run the current files (the card too) are copied aside first, the build's are installed, the command runs, and
the files are put back byte for byte whatever the command does (a failure, Ctrl-C), then checked against the copies;
the exit status is the command's. This is how a trial's weights meet the guard's tests (the keep rule's fifth
clause) without a hand-made copy that could be left behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "weightwarden" / "data" / "guard"
QUALITY = ROOT / "bench" / "results" / "guard_quality.json"
RUNTIME_FILES = ("encoder.npz", "train_fingerprints.npz", "policy.default.yaml", "model.json")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def targets(build: Path, results: Path) -> list[tuple[Path, Path]]:
    """(what the build wrote, where the package keeps it)."""
    pairs = [(build / name, DATA / name) for name in RUNTIME_FILES]
    pairs.append((results, QUALITY))
    missing = [str(src) for src, _ in pairs if not src.is_file()]
    if missing:
        raise SystemExit(f"not a finished guard build: missing {', '.join(missing)}")
    return pairs


def install(pairs: list[tuple[Path, Path]], card: bool) -> None:
    for src, dst in pairs:
        shutil.copyfile(src, dst)
    if card:
        from training.guard.train import write_card_table

        rows = json.loads(pairs[-1][0].read_text(encoding="utf-8"))["sources"]
        write_card_table(DATA / "README.md", rows)


def run_with(pairs: list[tuple[Path, Path]], command: list[str]) -> int:
    """Run `command` with the build installed; put the package's own files back afterwards, whatever happens."""
    with tempfile.TemporaryDirectory(prefix="guard-install-") as tmp:
        saved = []
        for n, dst in enumerate([dst for _, dst in pairs] + [DATA / "README.md"]):  # the card's table changes too
            copy = Path(tmp) / f"{n}-{dst.name}"
            shutil.copyfile(dst, copy)
            saved.append((copy, dst, sha256(dst)))
        try:
            install(pairs, card=True)
            print(f"installed {pairs[0][0].parent}; running: {' '.join(command)}", file=sys.stderr, flush=True)
            return subprocess.call(command, cwd=ROOT)
        except KeyboardInterrupt:
            return 130
        finally:
            for copy, dst, digest in saved:
                shutil.copyfile(copy, dst)
                if sha256(dst) != digest:  # never leave a trial's file behind unnoticed
                    raise SystemExit(f"could not restore {dst}: its copy is at {copy}")
            print("restored the package's own guard files", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", type=Path, help="a train.py --out folder")
    ap.add_argument("--results", type=Path, help="the build's --results file (default: q.json in the build folder)")
    ap.add_argument("--run", action="store_true", help="run the command after -- with the build installed, then undo")
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.run != bool(command):
        ap.error("--run needs a command after --, and a command needs --run")
    pairs = targets(args.build, args.results or args.build / "q.json")
    if args.run:
        return run_with(pairs, command)
    install(pairs, card=True)
    for _, dst in pairs:
        print(f"{dst.relative_to(ROOT)}  {sha256(dst)[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
