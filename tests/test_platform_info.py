"""The platform record: what a run ran on (llama.cpp build, CPU, versions, threads), in runs, reports and compare."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from weightwarden.eval.compare_runs import platform_check
from weightwarden.ledger import ItemRecord, Ledger, ModelRecord
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.platform_info import (
    PLATFORM_KEY,
    build_id,
    describe,
    machine_info,
    parse_system_info,
    platform_differences,
    platform_info,
    read_cpu,
)

# llama_print_system_info() of llama-cpp-python 0.3.36 built natively on this project's AMD EPYC test machine.
EPYC = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
    "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
# A build for a CPU with AVX2 but no AVX-512, in the older format without a backend's name.
AVX2_ONLY = "AVX = 1 | AVX_VNNI = 0 | AVX2 = 1 | AVX512 = 0 | AVX512_VBMI = 0 | AVX512_VNNI = 0 | FMA = 1 | F16C = 1 | "

CPUINFO_X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu vme pni ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512bw avx512_vnni hypervisor md_clear

processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu vme pni ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512bw avx512_vnni hypervisor md_clear
"""
CPUINFO_ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 asimddp sve i8mm\nCPU part\t: 0xd40\n"


def test_parses_a_native_build_and_an_avx2_only_build() -> None:
    native = parse_system_info(EPYC)
    assert {"AVX2", "AVX512", "AVX512_VNNI", "AVX_VNNI", "FMA", "OPENMP"} <= set(native)
    assert list(native) == sorted(native)
    avx2 = parse_system_info(AVX2_ONLY)
    assert avx2 == ("AVX", "AVX2", "F16C", "FMA")  # the disabled ones (= 0) are left out
    assert build_id("0.3.16", native) != build_id("0.3.16", avx2)
    assert build_id("0.3.16", avx2) != build_id("0.3.15", avx2)
    assert build_id("0.3.16", avx2) == build_id("0.3.16", tuple(reversed(avx2)))  # the order of features is not news
    other_backend = parse_system_info("CUDA : ARCHS = 890 | USE_GRAPHS = 1 | F16 = 0 | CPU : AVX2 = 1 | ")
    assert other_backend == ("AVX2", "CUDA:ARCHS=890", "CUDA:USE_GRAPHS")
    assert parse_system_info("") == ()


def test_reads_the_cpu_model_and_only_its_simd_flags() -> None:
    assert read_cpu(CPUINFO_X86) == (
        "AMD EPYC 9R14",
        (
            "avx",
            "avx2",
            "avx512_vnni",
            "avx512bw",
            "avx512f",
            "bmi2",
            "f16c",
            "fma",
            "pni",
            "sse4_1",
            "sse4_2",
            "ssse3",
        ),
    )
    model, flags = read_cpu(CPUINFO_ARM)
    assert flags == ("asimd", "asimddp", "i8mm", "sve") and model  # no model name line: platform's answer
    model, flags = read_cpu(None)
    assert model and flags == ()


def test_this_machine_is_described_and_serialises() -> None:
    import llama_cpp

    info = platform_info(threads=3)
    raw = llama_cpp.llama_print_system_info().decode()
    assert info.llama_cpp_python == llama_cpp.__version__ and info.llama_error is None
    assert info.llama_system_info == raw.strip() and info.llama_features == parse_system_info(raw)
    assert info.llama_features  # a native build reports at least its CPU's kernels
    assert info.build_id == build_id(info.llama_cpp_python, info.llama_features) and len(info.build_id) == 16
    assert info.threads == 3 and info.cpu_model and info.python == sys.version.split()[0]
    assert set(info.packages) == {"numpy", "torch", "transformers"} and info.packages["numpy"]
    assert json.loads(json.dumps(info.as_dict())) == info.as_dict()
    again = platform_info(threads=1)
    assert again.build_id == info.build_id and again.threads == 1
    assert platform_differences(info.as_dict(), again.as_dict()) == ["threads 3 vs 1"]
    assert platform_differences(info.as_dict(), again.as_dict(), backend="llama.cpp") == []  # see test_threads.py
    line = info.summary()
    assert info.build_id in line and all(f in line for f in info.llama_features)
    assert "3 threads" in line and info.cpu_model in line


def test_describing_the_platform_does_not_import_torch() -> None:
    code = (
        "import sys; from weightwarden.runtimes.platform_info import platform_info; "
        "info = platform_info(); print(info.packages['torch'] is not None, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]  # torch's version is known, from its metadata, without loading it


def test_a_missing_llama_cpp_is_said_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` now raises ImportError
    info = machine_info.__wrapped__()
    assert info.llama_cpp_python is None and info.llama_features == ()
    assert info.llama_error is not None and "could not be loaded" in info.llama_error
    assert info.build_id == build_id(None, ())
    assert "llama.cpp absent" in describe(info.as_dict())
    assert "llama-cpp-python" in " ".join(platform_differences(platform_info().as_dict(), info.as_dict()))


def test_differences_name_what_changed() -> None:
    here = platform_info(threads=2).as_dict() | {"llama_features": list(parse_system_info(EPYC))}
    there = here | {
        "llama_features": list(parse_system_info(AVX2_ONLY)),
        "cpu_model": "Intel(R) Core(TM) i7-8700",
        "packages": {**here["packages"], "numpy": "0.0.1"},
    }
    assert platform_differences(here, there) == [
        "llama.cpp features: -AVX512 -AVX512_BF16 -AVX512_VBMI -AVX512_VNNI -AVX_VNNI -BMI2 -LLAMAFILE -OPENMP "
        "-REPACK -SSE3 -SSSE3",
        f"CPU {here['cpu_model']!r} vs 'Intel(R) Core(TM) i7-8700'",
        f"numpy {here['packages']['numpy']} vs 0.0.1",
    ]
    assert platform_differences(there, here)[0].startswith("llama.cpp features: +AVX512 ")
    # One llama.cpp build on two CPUs runs the same kernels: only the build and the libraries count.
    same_build = here | {"cpu_model": "Intel(R) Core(TM) i7-8700", "cpu_flags": ["avx2", "fma"], "threads": 16}
    assert platform_differences(here, same_build, backend="llama.cpp") == []
    assert platform_differences(here, there, backend="llama.cpp") == [
        platform_differences(here, there)[0],
        f"numpy {here['packages']['numpy']} vs 0.0.1",
    ]
    assert platform_differences(here, dict(here)) == []


def _store(ledger: Ledger, model_hash: str, platform: dict[str, object] | None) -> str:
    config: dict[str, object] = {"tasks": {"quality.t": "d"}}
    if platform is not None:
        config[PLATFORM_KEY] = platform
    run_id = ledger.start_run("eval", model_hash, config)
    ledger.add_items(run_id, [ItemRecord(key=f"quality.t/i{n}", input={}, scores={"acc": n % 2}) for n in range(6)])
    ledger.finish_run(run_id, "ok", {})
    return run_id


@pytest.mark.slow
def test_compare_warns_when_runs_ran_on_different_machines(
    cli,  # type: ignore[no-untyped-def]
    home: Path,
    default_artifact: Artifact,
) -> None:
    h = default_artifact.sha256
    db = home / "ledger.db"
    here = platform_info(threads=2).as_dict()
    with Ledger(f"sqlite:///{db}") as ledger:
        ledger.upsert_model(ModelRecord(hash=h, name="default", format="gguf", size_bytes=default_artifact.size_bytes))
        base, candidate, old = _store(ledger, h, here), _store(ledger, h, here), _store(ledger, h, None)
        assert platform_check(ledger, ledger.run(base), ledger.run(candidate)).same  # type: ignore[arg-type]
        unknown = platform_check(ledger, ledger.run(base), ledger.run(old))  # type: ignore[arg-type]
        assert not unknown.same and f"candidate run {old} recorded no platform" in unknown.warnings[0]

    same = cli("compare", "default", "default", "--run-base", base, "--run-candidate", candidate, "--json")
    assert same.code == 0, same.err
    assert json.loads(same.out)["platform"]["same"] is True and "warning" not in same.err

    # The candidate's run as if made on another machine: an AVX2-only build on another CPU.
    with sqlite3.connect(db) as conn:
        (config,) = conn.execute("SELECT config FROM runs WHERE id = ?", (candidate,)).fetchone()
        stored = json.loads(config)
        stored[PLATFORM_KEY] |= {
            "cpu_model": "Intel(R) Core(TM) i7-8700",
            "llama_features": list(parse_system_info(AVX2_ONLY)),
            "build_id": build_id(here["llama_cpp_python"], parse_system_info(AVX2_ONLY)),
        }
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(stored), candidate))

    moved = cli("compare", "default", "default", "--run-base", base, "--run-candidate", candidate, "--json")
    assert moved.code == 0, moved.err
    out = json.loads(moved.out)
    assert out["platform"]["same"] is False
    assert out["platform"]["candidate"]["cpu_model"] == "Intel(R) Core(TM) i7-8700"
    assert f"CPU {here['cpu_model']!r} vs 'Intel(R) Core(TM) i7-8700'" in out["platform"]["differs"]
    [warning] = out["warnings"]
    assert "rerun both on one machine for a paired comparison" in warning and "i7-8700" in warning
    assert "different builds or CPUs" in moved.err and "i7-8700" in moved.err
    if set(here["llama_features"]) != set(parse_system_info(AVX2_ONLY)):
        assert any(d.startswith("llama.cpp features:") for d in out["platform"]["differs"])

    table = cli("compare", "default", "default", "--run-base", base, "--run-candidate", candidate)
    assert table.code == 0 and "rerun both on one machine" in table.err


def test_the_audit_report_says_what_it_ran_on(
    llama: LlamaCppRuntime, default_artifact: Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightwarden.audit import run_audit
    from weightwarden.audit.stages.facts import Facts
    from weightwarden.report import render_run

    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        # the other stages are tested elsewhere
        audit = run_audit(default_artifact, llama, ledger, stages={"facts": Facts})
        _, paths = render_run(ledger, audit.run_id, tmp_path / "report")
        (run,) = ledger.runs(kind="audit")
    expected = platform_info(threads=llama.threads)
    assert run.config[PLATFORM_KEY] == expected.as_dict()
    stored = json.loads(paths["json"].read_text())
    assert stored["platform"]["build_id"] == expected.build_id
    assert stored["platform"]["llama_features"] == list(expected.llama_features)
    assert stored["platform"]["threads"] == llama.threads and stored["platform"]["runtime"] == "llama.cpp"
    html = paths["html"].read_text()
    assert expected.build_id in html and f"{llama.threads} threads" in html
    assert f"llama-cpp-python {expected.llama_cpp_python}" in html and expected.cpu_model in html
    assert all(feature in html for feature in expected.llama_features)
