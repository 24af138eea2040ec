"""Energy a piece of work used, from the machine's own counters where it has them, else a stated estimate.

Counters: RAPL (Intel, and AMD since Zen under the same powercap interface) counts each CPU package's energy in
microjoules in /sys/class/powercap/intel-rapl:N/energy_uj, wrapping at max_energy_range_uj; reading it usually needs
root, and virtual machines rarely expose it. nvidia-smi reports each GPU's energy since the driver loaded. Without
either, EnergyMeter estimates from this process's CPU time and a stated power per busy core, and says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RAPL_ROOT = Path("/sys/class/powercap")
_PACKAGE_ZONE = re.compile(r"intel-rapl:\d+")  # a CPU package; intel-rapl:0:0 (a core sub-zone) is inside it
NVIDIA_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RaplZone:
    path: Path
    max_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def rapl_zones(root: Path = RAPL_ROOT) -> tuple[list[RaplZone], str]:
    """The readable package zones, and why there are none when there are none (missing, or root-only)."""
    if not root.is_dir():
        return [], f"no RAPL here ({root} does not exist)"
    zones: list[RaplZone] = []
    unreadable = 0
    for path in sorted(root.iterdir()):
        if not _PACKAGE_ZONE.fullmatch(path.name):
            continue
        try:
            zone = RaplZone(path, int((path / "max_energy_range_uj").read_text().strip() or 0))
            zone.read_uj()
        except (OSError, ValueError):
            unreadable += 1
            continue
        zones.append(zone)
    if not zones:
        why = f"{unreadable} RAPL zone(s) not readable (root-only energy_uj)" if unreadable else "no RAPL zones"
        return [], why
    return zones, ""


def _nvidia_energy_mj() -> list[float] | None:
    """Each GPU's energy counter since the driver loaded, in mJ; None without nvidia-smi or without the counter."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=total_energy_consumption", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_TIMEOUT_S,
            check=True,
        ).stdout
        values = [float(line.strip()) for line in out.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return values or None


class EnergyCounters:
    """Joules used between start() and stop(), summed over the counters this machine has; none: `available` False."""

    def __init__(self, root: Path = RAPL_ROOT, gpu: bool = True) -> None:
        self.zones, self.rapl_missing = rapl_zones(root)
        self.gpus = _nvidia_energy_mj() if gpu else None
        self.sources: list[str] = []
        if self.zones:
            self.sources.append(f"RAPL ({len(self.zones)} CPU package(s))")
        if self.gpus:
            self.sources.append(f"nvidia-smi ({len(self.gpus)} GPU(s))")
        self._rapl0: list[int] = []
        self._gpu0: list[float] | None = None

    @property
    def available(self) -> bool:
        return bool(self.sources)

    def describe(self) -> str:
        if self.available:
            return " + ".join(self.sources)
        return f"none: {self.rapl_missing}; no nvidia-smi energy counter"

    def start(self) -> None:
        self._rapl0 = [z.read_uj() for z in self.zones]
        self._gpu0 = _nvidia_energy_mj() if self.gpus else None

    def stop(self) -> float:
        joules = 0.0
        for zone, before in zip(self.zones, self._rapl0, strict=True):
            now = zone.read_uj()
            used = now - before if now >= before else now + zone.max_uj - before  # the counter wrapped
            joules += used / 1e6
        if self._gpu0 is not None:
            after = _nvidia_energy_mj() or []
            joules += sum(max(0.0, a - b) for a, b in zip(after, self._gpu0, strict=False)) / 1e3
        return joules


WATTS_PER_BUSY_CORE = 10.0  # a server or desktop core under full load, roughly; only used without counters


@dataclass(frozen=True)
class EnergyReading:
    """Joules used between start and stop; source: "counters" (measured) or "estimate" (CPU time x power per core)."""

    joules: float
    source: str
    basis: str
    seconds: float

    @property
    def kwh(self) -> float:
        return self.joules / 3.6e6

    def as_dict(self) -> dict[str, Any]:
        return {
            "joules": round(self.joules, 1),
            "kwh": round(self.kwh, 6),
            "source": self.source,
            "basis": self.basis,
            "seconds": round(self.seconds, 2),
        }


class EnergyMeter:
    """Start, then stop: the energy in between, measured by the counters or else estimated. Also a context manager
    (`reading` is set on exit).

    root: where the powercap tree is (tests point it at a fake one); watts_per_core: the estimate's assumption.
    """

    def __init__(self, root: str | Path = RAPL_ROOT, watts_per_core: float = WATTS_PER_BUSY_CORE, gpu: bool = True):
        self.counters = EnergyCounters(Path(root), gpu=gpu)
        self.watts_per_core = watts_per_core
        self.reading: EnergyReading | None = None
        self._t0 = 0.0
        self._cpu0 = 0.0

    def start(self) -> EnergyMeter:
        if self.counters.available:
            self.counters.start()
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()
        return self

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        cpu = time.process_time() - self._cpu0
        if self.counters.available:
            try:
                joules = self.counters.stop()
            except (OSError, ValueError):
                joules = None
            if joules is not None:
                zones = ", ".join(z.path.name for z in self.counters.zones)
                basis = f"{self.counters.describe()}{f' ({zones})' if zones else ''}, whole machine"
                self.reading = EnergyReading(joules, "counters", basis, seconds)
                return self.reading
        self.reading = EnergyReading(
            cpu * self.watts_per_core,
            "estimate",
            f"{self.counters.describe()}: {cpu:.1f} CPU-seconds of this process x {self.watts_per_core:g} W per busy "
            "core (an assumption, not a measurement)",
            seconds,
        )
        return self.reading

    def __enter__(self) -> EnergyMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
