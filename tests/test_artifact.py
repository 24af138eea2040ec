"""Resolving model references: default, GGUF paths, HF folders, remote references, and every bad one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from weightwarden.errors import ModelNotFound, UnsupportedModel
from weightwarden.runtimes import artifact as art
from weightwarden.runtimes.artifact import HashCache, embedder_path, resolve


def test_default_resolves_to_the_bundled_gguf_with_its_true_hash(default_artifact: art.Artifact) -> None:
    assert default_artifact.format == "gguf"
    assert default_artifact.path is not None and default_artifact.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    digest = hashlib.sha256(default_artifact.path.read_bytes()).hexdigest()
    assert default_artifact.sha256 == digest
    assert default_artifact.size_bytes == default_artifact.path.stat().st_size


def test_hash_cache_skips_rehashing_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 100)
    calls: list[Path] = []
    real = art.sha256_file

    def counting(path: Path, progress=None, chunk: int = 1 << 22) -> str:  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path, progress, chunk)

    monkeypatch.setattr(art, "sha256_file", counting)
    cache_file = tmp_path / "cache.json"
    first = HashCache(cache_file).sha256(f)
    second = HashCache(cache_file).sha256(f)  # a fresh process reads the cache file
    assert first == second == hashlib.sha256(f.read_bytes()).hexdigest()
    assert len(calls) == 1
    f.write_bytes(b"GGUF" + b"\1" * 101)
    third = HashCache(cache_file).sha256(f)
    assert third == hashlib.sha256(f.read_bytes()).hexdigest() != first
    assert len(calls) == 2


def test_damaged_hash_cache_is_ignored(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.json"
    cache_file.write_text("{not json")
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert HashCache(cache_file).sha256(f) == hashlib.sha256(b"abc").hexdigest()


def test_hash_progress_reports_bytes(tmp_path: Path) -> None:
    f = tmp_path / "big.bin"
    f.write_bytes(b"x" * (3 * (1 << 20)))
    seen: list[tuple[int, int]] = []
    art.sha256_file(f, lambda done, total: seen.append((done, total)), chunk=1 << 20)
    assert seen == [(1 << 20, 3 << 20), (2 << 20, 3 << 20), (3 << 20, 3 << 20)]


def test_gguf_path_and_hf_folder(default_artifact: art.Artifact) -> None:
    assert default_artifact.path is not None
    by_path = resolve(str(default_artifact.path))
    assert by_path.sha256 == default_artifact.sha256 and by_path.format == "gguf"
    folder = resolve(str(embedder_path()))  # a real Hugging Face layout: config.json + model.safetensors
    assert folder.format == "hf"
    assert "model.safetensors" in folder.files and len(folder.sha256) == 64


def test_remote_reference() -> None:
    a = resolve("openai:http://127.0.0.1:9/v1#my-model")
    assert (a.format, a.base_url, a.remote_model) == ("remote", "http://127.0.0.1:9/v1", "my-model")
    assert a.sha256 == resolve("openai:http://127.0.0.1:9/v1/#my-model").sha256


@pytest.mark.parametrize(
    ("ref", "error", "words"),
    [
        ("", ModelNotFound, "no model named"),
        ("/no/such/model.gguf", ModelNotFound, "no such file"),
        ("hf://org/model", UnsupportedModel, "unknown model scheme"),
        ("s3://bucket/model.gguf", UnsupportedModel, "unknown model scheme"),
        ("openai:http://host/v1", UnsupportedModel, "after '#'"),
        ("openai:ftp://host#m", UnsupportedModel, "openai:http"),
    ],
)
def test_bad_references(ref: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        resolve(ref)


def test_folder_without_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound, match="without"):
        resolve(str(tmp_path))


def test_file_that_is_not_a_model(tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"PK\x03\x04 a zip, say a PyTorch checkpoint")
    with pytest.raises(UnsupportedModel, match="not a GGUF file"):
        resolve(str(f))
