"""Energy this machine used while a phase ran, where it can say (RAPL counters of the CPU packages, the GPUs' energy
counters through nvidia-smi), and what a million generated tokens cost: from that energy at the electricity price,
from an hourly price, or from the assumed power draw in the settings. Every cost says which source it came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from weightwarden.runtimes.energy import RAPL_ROOT, RaplZone, rapl_zones
from weightwarden.runtimes.energy import EnergyCounters as EnergyMeter

__all__ = ["RAPL_ROOT", "Cost", "EnergyMeter", "RaplZone", "cost_per_million", "rapl_zones"]


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
