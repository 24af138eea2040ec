"""training/guard/install.py: a build's files installed for one command are put back byte for byte afterwards."""

from __future__ import annotations

import json
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


def test_a_command_that_cannot_start_still_leaves_the_shipped_files(package: tuple[Path, Path]) -> None:
    data, build = package
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    with pytest.raises(FileNotFoundError):
        install.main([str(build), "--run", "--", "/nonexistent/command"])
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_an_unfinished_build_is_refused_before_anything_is_copied(package: tuple[Path, Path]) -> None:
    data, build = package
    (build / "model.json").unlink()
    with pytest.raises(SystemExit, match=r"not a finished guard build: missing .*model\.json"):
        install.main([str(build), "--run", "--", sys.executable, "-c", "pass"])
    assert (data / "encoder.npz").read_bytes() == b"shipped encoder.npz"
