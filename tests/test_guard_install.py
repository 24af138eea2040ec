"""training/guard/install.py: a build's files installed for one command are put back byte for byte afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from training.guard import install


@pytest.fixture()
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    data, build = tmp_path / "data", tmp_path / "build"
    data.mkdir()
    build.mkdir()
    for name in install.RUNTIME_FILES:
        (data / name).write_bytes(b"shipped " + name.encode())
        (build / name).write_bytes(b"trial " + name.encode())
    (tmp_path / "quality.json").write_text('{"shipped": true}')
    (build / "q.json").write_text(json.dumps({"sources": []}))
    (data / "README.md").write_text("card\n<!-- sources:begin -->\nold table\n<!-- sources:end -->\nrest\n")
    monkeypatch.setattr(install, "DATA", data)
    monkeypatch.setattr(install, "QUALITY", tmp_path / "quality.json")
    monkeypatch.setattr(install, "ROOT", tmp_path)
    return data, build


def test_run_installs_the_build_for_the_command_and_puts_the_shipped_files_back(package: tuple[Path, Path]) -> None:
    data, build = package
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    check = (
        "import sys; from pathlib import Path; "
        f"ok = Path({str(data / 'encoder.npz')!r}).read_bytes() == b'trial encoder.npz'; "
        f"ok = ok and 'old table' not in Path({str(data / 'README.md')!r}).read_text(); sys.exit(3 if ok else 9)"
    )
    rc = install.main([str(build), "--run", "--", sys.executable, "-c", check])
    assert rc == 3  # the command saw the trial's file, and its exit status is passed on
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    assert (install.QUALITY).read_text() == '{"shipped": true}'
    assert not install.backup_dir().exists()  # the copies go once everything is back


def _files(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in data.iterdir()} | {"quality": install.QUALITY.read_bytes()}


def test_a_command_that_cannot_start_says_so_and_leaves_the_shipped_files(package: tuple[Path, Path]) -> None:
    data, build = package
    before = _files(data)
    assert install.main([str(build), "--run", "--", "/nonexistent/command"]) == 127
    assert _files(data) == before and not install.backup_dir().exists()


def test_ctrl_c_or_sigterm_during_the_command_still_restores(
    package: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, build = package
    before = _files(data)

    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(install.subprocess, "call", interrupted)
    assert install.main([str(build), "--run", "--", "anything"]) == 130
    assert _files(data) == before

    def terminated(*args: object, **kwargs: object) -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # what `timeout` or a CI runner sends
        return 0

    monkeypatch.setattr(install.subprocess, "call", terminated)
    assert install.main([str(build), "--run", "--", "anything"]) == 143
    assert _files(data) == before and not install.backup_dir().exists()
    assert signal.getsignal(signal.SIGTERM) is not install._raise_terminated  # the handler is put back too


def test_a_restore_that_fails_midway_puts_back_the_rest_and_keeps_the_copies_for_restore(
    package: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, build = package
    before = _files(data)
    real = shutil.copyfile
    fails = {"left": 1}

    def flaky(src: Path, dst: Path) -> object:
        if Path(src).parent == install.backup_dir() and Path(src).name.startswith("1-") and fails["left"]:
            fails["left"] -= 1
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(install.shutil, "copyfile", flaky)
    with pytest.raises(SystemExit, match=r"could not restore .*train_fingerprints\.npz \(disk full\)"):
        install.main([str(build), "--run", "--", sys.executable, "-c", "pass"])
    after = _files(data)
    assert after["train_fingerprints.npz"] == b"trial train_fingerprints.npz"  # the one that failed
    assert {k: v for k, v in after.items() if k != "train_fingerprints.npz"} == {
        k: v for k, v in before.items() if k != "train_fingerprints.npz"
    }
    # the copies wait; a second --run refuses to start over them, and --restore finishes the job
    with pytest.raises(SystemExit, match="an earlier --run did not finish restoring"):
        install.main([str(build), "--run", "--", sys.executable, "-c", "pass"])
    assert install.main(["--restore"]) == 0
    assert _files(data) == before and not install.backup_dir().exists()
    assert install.main(["--restore"]) == 0  # nothing left to do is not an error


def test_installing_for_good_copies_the_files_and_rewrites_the_card_table(package: tuple[Path, Path]) -> None:
    data, build = package
    (build / "q.json").write_text(json.dumps({"sources": [_row()]}))
    assert install.main([str(build)]) == 0
    assert (data / "encoder.npz").read_bytes() == b"trial encoder.npz"
    assert json.loads(install.QUALITY.read_text())["sources"][0]["source"] == "s1"
    card = (data / "README.md").read_text()
    assert "old table" not in card and "| s1 | pkg | 1.0 |" in card and card.endswith("rest\n")


def _row() -> dict[str, object]:
    return {
        "source": "s1",
        "package": "pkg",
        "version": "1.0",
        "path": "p",
        "counts": {"injection": 2},
        "licence": "MIT",
        "held_out": False,
    }


def test_an_unfinished_build_is_refused_before_anything_is_copied(package: tuple[Path, Path]) -> None:
    data, build = package
    (build / "model.json").unlink()
    with pytest.raises(SystemExit, match=r"not a finished guard build: missing .*model\.json"):
        install.main([str(build), "--run", "--", sys.executable, "-c", "pass"])
    assert (data / "encoder.npz").read_bytes() == b"shipped encoder.npz"
    # nor is a results file that is not one train.py writes
    (build / "model.json").write_text("{}")
    for bad in ("{not json", '{"measured_at": "x"}', '{"sources": 3}'):
        (build / "q.json").write_text(bad)
        with pytest.raises(SystemExit, match=r"is not a train\.py --results file"):
            install.main([str(build)])
    assert (data / "encoder.npz").read_bytes() == b"shipped encoder.npz"
