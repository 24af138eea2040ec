"""What a run ran on: the llama.cpp build (its SIMD kernels), the CPU, library versions and the thread count.

A small model's greedy words and the last bits of its scores change with these, so every run records them:

    info = platform_info(threads=runtime.info.details.get("threads"))
    config["platform"] = info.as_dict()
    platform_differences(stored_a, stored_b)  # ["CPU: AMD EPYC vs Intel Xeon", ...]
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PLATFORM_KEY = "platform"  # where a run's config keeps its PlatformInfo
PACKAGES = ("numpy", "torch", "transformers")  # versions recorded besides llama-cpp-python's

# The CPU flags that decide which kernels llama.cpp and torch pick (x86 names, then ARM's); /proc/cpuinfo calls
# SSE3 "pni". Everything else in the flags line (virtualisation, security mitigations) does not change a sum.
SIMD_FLAGS = frozenset(
    {
        "pni",
        "ssse3",
        "sse4_1",
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "bmi2",
        "avx_vnni",
        "avx512f",
        "avx512bw",
        "avx512cd",
        "avx512dq",
        "avx512vl",
        "avx512vbmi",
        "avx512_vnni",
        "avx512_bf16",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
        "asimd",
        "asimddp",
        "asimdhp",
        "fphp",
        "i8mm",
        "bf16",
        "sve",
        "sve2",
        "sme",
    }
)


@dataclass(frozen=True)
class PlatformInfo:
    """The machine and runtime build a run ran on; JSON-serialisable through as_dict().

    build_id: 16 hex digits naming the llama.cpp build (llama-cpp-python's version and its enabled features); two
    runs with the same build_id ran the same kernels. llama_features: what llama_print_system_info() reports as
    enabled ("AVX2", "CUDA:USE_GRAPHS", "CUDA:ARCHS=890"). llama_error: why llama.cpp could not be asked, if it
    could not (then llama_cpp_python is None). cpu_flags: only the SIMD flags that pick kernels.
    """

    build_id: str
    llama_cpp_python: str | None
    llama_features: tuple[str, ...]
    llama_system_info: str
    cpu_model: str
    cpu_flags: tuple[str, ...]
    machine: str
    os: str
    python: str
    packages: dict[str, str | None] = field(default_factory=dict)
    threads: int | None = None
    llama_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "build_id": self.build_id,
            "llama_cpp_python": self.llama_cpp_python,
            "llama_features": list(self.llama_features),
            "llama_system_info": self.llama_system_info,
            "llama_error": self.llama_error,
            "cpu_model": self.cpu_model,
            "cpu_flags": list(self.cpu_flags),
            "machine": self.machine,
            "os": self.os,
            "python": self.python,
            "packages": dict(self.packages),
            "threads": self.threads,
        }

    def summary(self) -> str:
        """One line for a report: build, features, CPU, threads, versions."""
        return describe(self.as_dict())


def parse_system_info(text: str) -> tuple[str, ...]:
    """The enabled features in llama_print_system_info()'s text, sorted.

    "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 0 | " gives ("AVX2", "SSE3"). Features of other backends keep their
    backend's name ("CUDA:USE_GRAPHS"), and settings that are not 0/1 keep their value ("CUDA:ARCHS=890").
    """
    found: set[str] = set()
    section = "CPU"
    for part in text.split("|"):
        part = part.strip()
        if " : " in part:  # "CPU : SSE3 = 1" starts a backend's section
            section, _, part = (s.strip() for s in part.partition(" : "))
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not key or value == "0":
            continue
        name = key if section.upper() == "CPU" else f"{section}:{key}"
        found.add(name if value == "1" else f"{name}={value}")
    return tuple(sorted(found))


def build_id(llama_cpp_python: str | None, features: tuple[str, ...]) -> str:
    """16 hex digits of sha256 over the llama-cpp-python version and the sorted enabled features."""
    text = f"llama-cpp-python {llama_cpp_python or 'absent'}\n" + "\n".join(sorted(features))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_cpu(cpuinfo: str | None) -> tuple[str, tuple[str, ...]]:
    """(CPU model name, its SIMD flags) from /proc/cpuinfo's text; platform.processor() when it says nothing."""
    model, flags = "", set[str]()
    for line in (cpuinfo or "").splitlines():
        key, _, value = (s.strip() for s in line.partition(":"))
        if key in ("model name", "Model", "Hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split()) & SIMD_FLAGS
    return model or platform.processor() or platform.machine() or "unknown", tuple(sorted(flags))


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _llama_system_info() -> tuple[str | None, str, str | None]:
    """(llama-cpp-python version, raw system info, error); the library is loaded if it was not already."""
    try:
        import llama_cpp

        raw = llama_cpp.llama_print_system_info()
    except (ImportError, OSError, AttributeError, RuntimeError) as exc:
        return None, "", f"llama_cpp could not be loaded ({type(exc).__name__}: {exc})"
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    version = getattr(llama_cpp, "__version__", None) or _package_version("llama-cpp-python")
    return str(version) if version else None, text.strip(), None


@functools.cache
def machine_info() -> PlatformInfo:
    """This process's platform without a thread count; computed once (loading llama.cpp's library is the cost)."""
    version, raw, error = _llama_system_info()
    features = parse_system_info(raw)
    cpuinfo = Path("/proc/cpuinfo")
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace") if cpuinfo.is_file() else None
    except OSError:
        text = None
    cpu_model, cpu_flags = read_cpu(text)
    return PlatformInfo(
        build_id=build_id(version, features),
        llama_cpp_python=version,
        llama_features=features,
        llama_system_info=raw,
        cpu_model=cpu_model,
        cpu_flags=cpu_flags,
        machine=platform.machine(),
        os=platform.platform(),
        python=sys.version.split()[0],
        packages={name: _package_version(name) for name in PACKAGES},
        llama_error=error,
    )


def platform_info(threads: int | None = None) -> PlatformInfo:
    """This machine and runtime build, with the thread count the runtime was loaded with."""
    return replace(machine_info(), threads=threads)


def _set_change(label: str, a: Any, b: Any) -> str | None:
    sa, sb = set(a or ()), set(b or ())
    if sa == sb:
        return None
    parts = [f"+{x}" for x in sorted(sb - sa)] + [f"-{x}" for x in sorted(sa - sb)]
    return f"{label}: {' '.join(parts)}"


def platform_differences(a: Mapping[str, Any], b: Mapping[str, Any], backend: str | None = None) -> list[str]:
    """What differs between two stored platforms (as_dict() form) that can change scores, in words; [] if none.

    Features and flags are listed as b's against a's: "+AVX512" is in b only, "-AVX512" in a only.
    backend: "llama.cpp" when both runs used it: then the CPU and the thread count do not count, because a llama.cpp
    build runs the kernels it was compiled for on any CPU that has them (its features are its compile flags) and a
    single-sequence context gives the same numbers on any number of threads (tests/test_threads.py). For other
    backends (torch picks kernels by the CPU at run time, and splits sums by threads) they count.
    """
    out: list[str] = []
    if a.get("llama_cpp_python") != b.get("llama_cpp_python"):
        out.append(
            f"llama-cpp-python {a.get('llama_cpp_python') or 'absent'} vs {b.get('llama_cpp_python') or 'absent'}"
        )
    compared = (("llama.cpp features", "llama_features"), ("CPU flags", "cpu_flags"))
    for label, key in compared[:1] if backend == "llama.cpp" else compared:
        change = _set_change(label, a.get(key), b.get(key))
        if change:
            out.append(change)
    if backend != "llama.cpp" and a.get("cpu_model") != b.get("cpu_model"):
        out.append(f"CPU {a.get('cpu_model')!r} vs {b.get('cpu_model')!r}")
    pa, pb = a.get("packages") or {}, b.get("packages") or {}
    for name in sorted(set(pa) | set(pb)):
        if pa.get(name) != pb.get(name):
            out.append(f"{name} {pa.get(name) or 'absent'} vs {pb.get(name) or 'absent'}")
    if backend != "llama.cpp" and a.get("threads") != b.get("threads"):
        out.append(f"threads {a.get('threads')} vs {b.get('threads')}")
    return out


def describe(info: Mapping[str, Any]) -> str:
    """One line from a stored platform: llama.cpp build and features, CPU, threads, Python and library versions."""
    llama = (
        f"llama-cpp-python {info.get('llama_cpp_python')} (build {info.get('build_id')}: "
        f"{' '.join(info.get('llama_features') or ()) or 'no features reported'})"
        if info.get("llama_cpp_python")
        else f"llama.cpp absent ({info.get('llama_error') or 'not installed'})"
    )
    packages = info.get("packages") or {}
    versions = ", ".join(f"{k} {v}" for k, v in sorted(packages.items()) if v)
    threads = info.get("threads")
    return (
        f"{llama} · CPU {info.get('cpu_model')} ({info.get('machine')}) · "
        f"{threads if threads is not None else '?'} threads · Python {info.get('python')}"
        + (f" · {versions}" if versions else "")
    )
