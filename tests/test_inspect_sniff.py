"""Recognition before analysis: what a file looks like, and which bytes a loader would unpickle."""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from pathlib import Path

import pytest

from weightwarden.errors import UnsupportedModel
from weightwarden.inspect import inspect_model
from weightwarden.inspect.inspector import detect_format
from weightwarden.inspect.sniff import looks_like, opens_as_pickle


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello\n", "text"),
        (b'{"a": 1}', "JSON text"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n", "Git LFS pointer"),
        (b"<!DOCTYPE html><html>", "HTML page"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "PNG image"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "JPEG image"),
        (gzip.compress(b"x"), "gzip archive"),
        (b"\x7fELF\x02\x01", "executable"),
        (bytes(range(256)) * 4, "binary data"),
    ],
)
def test_looks_like(data: bytes, words: str) -> None:
    assert words in looks_like(data)


def test_only_bytes_that_start_a_pickle_open_as_one() -> None:
    assert opens_as_pickle(pickle.dumps([1, 2], protocol=2), truncated=False)
    assert opens_as_pickle(pickle.dumps({"a": 1}, protocol=0), truncated=False)  # protocol 0 is text, and a pickle
    assert opens_as_pickle(b"cos\nsystem\n(S'ls'\ntR.", truncated=False)  # an attack in protocol 0
    assert not opens_as_pickle(b"hello\n", truncated=False)
    assert not opens_as_pickle(b"# a README\n", truncated=False)


def test_a_six_byte_text_file_is_not_a_model_file(tmp_path: Path) -> None:
    for name in ("model.bin", "weights.pkl", "x.pt"):
        path = tmp_path / name
        path.write_bytes(b"hello\n")
        assert detect_format(path) is None
        with pytest.raises(UnsupportedModel, match=r"not a model file: it looks like text") as err:
            inspect_model(path)
        assert "GGUF, safetensors" in str(err.value)


def test_a_zip_needs_a_pickle_inside_to_be_a_checkpoint(tmp_path: Path) -> None:
    plain = tmp_path / "archive.pt"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("notes.txt", "hi")
    with pytest.raises(UnsupportedModel, match="zip archive with no pickle inside"):
        inspect_model(plain)
    checkpoint = tmp_path / "model.pt"
    with zipfile.ZipFile(checkpoint, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
    assert detect_format(checkpoint) == "pytorch"


def test_a_text_file_in_a_model_folder_is_not_scanned_as_a_pickle(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "training_args.bin").write_text("not really a pickle\n")
    ins = inspect_model(tmp_path)
    assert not [f for f in ins.findings if f.kind.startswith("pickle")]
    assert next(f for f in ins.files if f.path == "training_args.bin").format == "other"


def test_a_long_protocol_0_pickle_is_still_a_pickle() -> None:
    raw = pickle.dumps(list(range(40_000)), protocol=0)
    assert len(raw) > 64 * 1024
    assert opens_as_pickle(raw[: 64 * 1024], truncated=True)
    assert io.BytesIO(raw).read(2) != b"\x80\x02"
