"""`diagnose`: which llama.cpp flavour is installed, and each problem with what to do about it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from weightwarden.config import load_settings
from weightwarden.doctor import check_disk, check_ledger, check_llama, check_threads, diagnose, llama_flavour
from weightwarden.runtimes.platform_info import PlatformInfo, machine_info, parse_system_info

AVX512_CPU = ("avx", "avx2", "avx512bw", "avx512f", "fma")
AVX2_CPU = ("avx", "avx2", "fma")


def _info(system_info: str, cpu_flags: tuple[str, ...]) -> PlatformInfo:
    return replace(machine_info(), llama_features=parse_system_info(system_info), cpu_flags=cpu_flags)


def test_the_flavour_comes_from_llama_cpp_system_info() -> None:
    native = _info("CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 |", AVX512_CPU)
    assert llama_flavour(native, None)[0] == "native"
    baseline = _info("CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 0 |", AVX512_CPU)
    assert llama_flavour(baseline, None)[0] == "avx2"
    # Without AVX-512 on the CPU both flavours build the same kernels: make's record decides, if there is one.
    same = _info("CPU : AVX2 = 1 |", AVX2_CPU)
    assert llama_flavour(same, "native")[0] == "native"
    assert llama_flavour(same, None)[0] == "unknown"


def test_what_each_flavour_means_and_a_stale_wheel() -> None:
    native = check_llama(_info("CPU : AVX2 = 1 | AVX512 = 1 |", AVX512_CPU), "native")
    assert native.status == "ok" and "differ in the last bits" in native.detail and "LLAMA_CPU=avx2" in native.fix
    baseline = check_llama(_info("CPU : AVX2 = 1 | AVX512 = 0 |", AVX512_CPU), "avx2")
    assert baseline.status == "ok" and "same numbers" in baseline.detail
    stale = check_llama(_info("CPU : AVX2 = 1 | AVX512 = 1 |", AVX512_CPU), "avx2")
    assert stale.status == "warn" and "make clean" in stale.fix
    missing = check_llama(replace(machine_info(), llama_cpp_python=None, llama_error="no module"), None)
    assert missing.status == "fail" and "make" in missing.fix


def test_threads_and_disk(tmp_path: Path) -> None:
    s = load_settings(overrides={"home": str(tmp_path), "threads": 512})
    assert check_threads(s).status == "warn" and "WARDEN_THREADS" in check_threads(s).fix
    auto = check_threads(load_settings(overrides={"home": str(tmp_path), "threads": 0}))
    assert auto.status == "ok" and "chosen per call" in auto.detail
    for free, status in ((10**12, "ok"), (10**9, "warn"), (10**6, "fail")):
        (found,) = check_disk({"home": tmp_path / "not" / "made"}, lambda _p, f=free: SimpleNamespace(free=f))
        assert found.status == status, (free, found)
        assert (status == "ok") == (found.fix == "")


def test_the_ledger_schema_version_is_read(tmp_path: Path) -> None:
    from weightwarden.ledger import Ledger
    from weightwarden.ledger.migrations import MIGRATIONS, version_of

    s = load_settings(overrides={"home": str(tmp_path)})
    (fresh,) = check_ledger(s)
    assert "not created yet" in fresh.detail and not (tmp_path / "ledger.db").exists()
    Ledger(s.db_url).close()
    (made,) = check_ledger(s)
    assert made.status == "ok" and f"schema version {version_of(MIGRATIONS[-1])} " in made.detail


def test_diagnose_runs_every_check(tmp_path: Path) -> None:
    names = [c.name for c in diagnose(load_settings(overrides={"home": str(tmp_path)}))]
    assert names[:5] == ["llama.cpp", "CPU", "threads", "default model", "embedder"]
    assert "ledger" in names and names.count("disk") == 2
