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
clause) without a hand-made copy that could be left behind. The copies wait in .guard-install-backup/ (at the
repository's top) until every file is back; a run killed outright leaves them there, and `--restore` puts them back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import signal
import subprocess
import sys
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
    try:  # the card's table is written from it: check it before anything is copied
        rows = json.loads(results.read_text(encoding="utf-8"))["sources"]
        if not isinstance(rows, list):
            raise TypeError("'sources' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{results} is not a train.py --results file ({exc!r})") from None
    return pairs


def install(pairs: list[tuple[Path, Path]], card: bool) -> None:
    for src, dst in pairs:
        shutil.copyfile(src, dst)
    if card:
        from training.guard.train import write_card_table

        rows = json.loads(pairs[-1][0].read_text(encoding="utf-8"))["sources"]
        write_card_table(DATA / "README.md", rows)


def backup_dir() -> Path:
    """Where --run keeps the package's own files while a build is installed (git ignores it)."""
    return ROOT / ".guard-install-backup"


def restore() -> list[str]:
    """Put every file kept in the backup folder back; the folder goes only once every file checks out.

    Returns what could not be restored (an empty list when all is back)."""
    folder = backup_dir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    failed = []
    for entry in manifest:
        copy, dst = folder / entry["copy"], ROOT / entry["path"]
        try:
            shutil.copyfile(copy, dst)
            if sha256(dst) != entry["sha256"]:
                failed.append(f"{dst} (restored with another sha256)")
        except OSError as exc:
            failed.append(f"{dst} ({exc})")
    if not failed:
        shutil.rmtree(folder)
    return failed


class Terminated(Exception):
    """SIGTERM or SIGHUP while the command ran (timeout, a CI runner's limit, a closed terminal)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


def run_with(pairs: list[tuple[Path, Path]], command: list[str]) -> int:
    """Run `command` with the build installed; put the package's own files back afterwards, whatever happens.

    The package's files are copied to backup_dir() first, with a manifest: a run killed outright (SIGKILL, a power
    cut) leaves them there, and `install --restore` puts them back. SIGTERM and SIGHUP during the command end it
    and restore; Ctrl-C during the restore is ignored, so it is never left half done."""
    folder = backup_dir()
    if folder.exists():
        raise SystemExit(
            f"{folder} exists: an earlier --run did not finish restoring. Run `python -m training.guard.install "
            "--restore` first (it puts the package's own guard files back from there)"
        )
    folder.mkdir()
    manifest = []
    for n, dst in enumerate([dst for _, dst in pairs] + [DATA / "README.md"]):  # the card's table changes too
        copy = f"{n}-{dst.name}"
        shutil.copyfile(dst, folder / copy)
        manifest.append({"copy": copy, "path": str(dst.relative_to(ROOT)), "sha256": sha256(dst)})
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    rc = 1
    try:
        install(pairs, card=True)
        print(f"installed {pairs[0][0].parent}; running: {' '.join(command)}", file=sys.stderr, flush=True)
        rc = subprocess.call(command, cwd=ROOT)
    except FileNotFoundError as exc:
        print(f"cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        rc = 127
    except KeyboardInterrupt:
        rc = 130
    except Terminated as exc:
        print(f"{exc} while the command ran: restoring", file=sys.stderr)
        rc = 143
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            failed = restore()
        finally:
            signal.signal(signal.SIGINT, interrupt)
    if failed:  # never leave a trial's file behind unnoticed
        raise SystemExit(f"could not restore {'; '.join(failed)}: the package's own copies are kept in {folder}")
    print("restored the package's own guard files", file=sys.stderr)
    return rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", type=Path, nargs="?", help="a train.py --out folder")
    ap.add_argument("--results", type=Path, help="the build's --results file (default: q.json in the build folder)")
    ap.add_argument("--run", action="store_true", help="run the command after -- with the build installed, then undo")
    ap.add_argument("--restore", action="store_true", help="put back the files an interrupted --run kept aside")
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.restore:
        if not (backup_dir() / "manifest.json").is_file():
            print(f"nothing to restore: {backup_dir()} holds no manifest", file=sys.stderr)
            return 0
        failed = restore()
        if failed:
            raise SystemExit(f"could not restore {'; '.join(failed)}; the copies stay in {backup_dir()}")
        print("restored the package's own guard files", file=sys.stderr)
        return 0
    if args.build is None:
        ap.error("give a build folder (or --restore)")
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
