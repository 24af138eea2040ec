"""Energy a piece of work used: measured from the CPU's RAPL counters where the kernel exposes them, else estimated.

RAPL (Intel, and AMD since Zen under the same powercap interface) counts package energy in microjoules in
/sys/class/powercap/intel-rapl:N/energy_uj; the counter wraps at max_energy_range_uj. Reading it usually needs root
or a permissive mode; virtual machines rarely expose it. Without it the figure is an estimate from this process's
CPU time and a stated power per busy core, and every reading says which of the two it is.
"""

from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RAPL_ROOT = "/sys/class/powercap"
WATTS_PER_BUSY_CORE = 10.0  # a server or desktop core under full load, roughly; only used without RAPL
_PACKAGE = re.compile(r"intel-rapl:\d+$")  # package domains; their sub-domains (core, dram) are inside them


@dataclass(frozen=True)
class EnergyReading:
    """Joules used between start and stop; source: "rapl" (measured) or "estimate" (CPU time x power per core)."""

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


def _rapl_domains(root: str) -> list[Path]:
    found = [Path(p) for p in sorted(glob.glob(os.path.join(root, "intel-rapl:*")))]
    return [p for p in found if _PACKAGE.search(p.name) and os.access(p / "energy_uj", os.R_OK)]


def _read_uj(domain: Path) -> int | None:
    try:
        return int((domain / "energy_uj").read_text().strip())
    except (OSError, ValueError):
        return None


class EnergyMeter:
    """Start, then stop: the energy in between. Usable as a context manager (`reading` is set on exit).

    root: where the powercap tree is (tests point it at a fake tree); watts_per_core: the estimate's assumption.
    """

    def __init__(self, root: str = RAPL_ROOT, watts_per_core: float = WATTS_PER_BUSY_CORE) -> None:
        self.root = root
        self.watts_per_core = watts_per_core
        self.reading: EnergyReading | None = None
        self._domains: list[Path] = []
        self._start_uj: list[int | None] = []
        self._t0 = 0.0
        self._cpu0 = 0.0

    def start(self) -> EnergyMeter:
        self._domains = _rapl_domains(self.root)
        self._start_uj = [_read_uj(d) for d in self._domains]
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()
        return self

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        cpu = time.process_time() - self._cpu0
        total, ok = 0.0, bool(self._domains)
        for domain, before in zip(self._domains, self._start_uj, strict=True):
            after = _read_uj(domain)
            if before is None or after is None:
                ok = False
                break
            if after < before:  # the counter wrapped once (it wraps every few minutes to hours)
                try:
                    after += int((domain / "max_energy_range_uj").read_text().strip())
                except (OSError, ValueError):
                    ok = False
                    break
            total += (after - before) / 1e6
        if ok:
            names = ", ".join(d.name for d in self._domains)
            self.reading = EnergyReading(total, "rapl", f"RAPL package counters ({names}), whole machine", seconds)
        else:
            self.reading = EnergyReading(
                cpu * self.watts_per_core,
                "estimate",
                f"no readable RAPL counters: {cpu:.1f} CPU-seconds of this process x {self.watts_per_core:g} W "
                "per busy core (an assumption, not a measurement)",
                seconds,
            )
        return self.reading

    def __enter__(self) -> EnergyMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
