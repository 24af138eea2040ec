"""Energy this machine used while a phase ran, where it can say (RAPL counters of the CPU packages, the GPUs' energy
counters through nvidia-smi), and what a million generated tokens cost: from that energy at the electricity price,
from an hourly price, or from the assumed power draw in the settings. Every cost says which source it came from."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
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


class EnergyMeter:
    """Joules used between start() and stop(), summed over the sources this machine has; none: `available` False."""

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


@dataclass(frozen=True)
class Cost:
    """USD per million generated tokens (None when unknown) and where the figure came from."""

    usd_per_million: float | None
    source: str
    kind: str  # "measured-energy", "price-per-hour", "assumed-power" or "unknown"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cost_per_million(
    *,
    tokens: int,
    wall_s: float,
    joules: float | None,
    energy_source: str,
    price_per_hour: float | None,
    usd_per_kwh: float,
    power_watts: float,
    runs_here: bool,
) -> Cost:
    """The cost of a million tokens at the rate this phase made them.

    An hourly price given for the backend wins (a rented machine costs its rent, whatever it draws); then energy
    measured on this machine, when the backend runs here; then, for a local backend, the settings' assumed power.
    A remote endpoint with no price has no known cost.
    """
    if tokens <= 0 or wall_s <= 0:
        return Cost(None, "no tokens generated", "unknown")
    if price_per_hour is not None:
        usd = price_per_hour / 3600 * wall_s
        return Cost(usd / tokens * 1e6, f"--price-per-hour ${price_per_hour:g}/h", "price-per-hour")
    if runs_here and joules is not None:
        usd = joules / 3.6e6 * usd_per_kwh
        return Cost(
            usd / tokens * 1e6,
            f"measured energy {joules:.0f} J ({energy_source}) x ${usd_per_kwh:g}/kWh",
            "measured-energy",
        )
    if runs_here:
        usd = power_watts * wall_s / 3.6e6 * usd_per_kwh
        return Cost(
            usd / tokens * 1e6,
            f"assumed {power_watts:g} W (setting power_watts) x ${usd_per_kwh:g}/kWh; no energy counter here",
            "assumed-power",
        )
    return Cost(None, "unknown: a remote endpoint; pass --price-per-hour BACKEND=USD", "unknown")
