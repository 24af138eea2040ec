"""Every detector a policy can name, in one explicit list: name -> class, with how to build it from a rule.

The pipeline builds detectors only through this list, and tests/test_guard_registry.py runs every entry on real
benign and attack text and checks its description, so a new detector is one module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from weightwarden.guard.base import Detector, PolicyError, Side
from weightwarden.guard.harmful import HarmfulDetector
from weightwarden.guard.injection import InjectionDetector
from weightwarden.guard.jailbreak import JailbreakDetector
from weightwarden.guard.leakage import LeakageDetector
from weightwarden.guard.pii import PIIDetector
from weightwarden.guard.secrets import SecretsDetector
from weightwarden.guard.toxicity import ToxicityDetector

if TYPE_CHECKING:
    from weightwarden.guard.layered import Layers
    from weightwarden.guard.policy import Rule


@dataclass(frozen=True)
class DetectorEntry:
    """One registered detector: its class, and how a policy rule (and the shared learned layers) make one."""

    name: str
    cls: type[Any]
    build: Callable[[Rule, Layers], Detector]

    @property
    def description(self) -> str:
        return str(self.cls.description)

    @property
    def sides(self) -> tuple[Side, ...]:
        return tuple(self.cls.sides)


def _pii(rule: Rule, layers: Layers) -> Detector:
    kinds = rule.options.get("kinds")
    return PIIDetector(frozenset(kinds) if kinds else None)


_ENTRIES = (
    DetectorEntry("injection", InjectionDetector, lambda rule, layers: InjectionDetector(layers)),
    DetectorEntry("harmful", HarmfulDetector, lambda rule, layers: HarmfulDetector(layers)),
    DetectorEntry("jailbreak", JailbreakDetector, lambda rule, layers: JailbreakDetector(layers)),
    DetectorEntry("pii", PIIDetector, _pii),
    DetectorEntry("secrets", SecretsDetector, lambda rule, layers: SecretsDetector()),
    DetectorEntry("toxicity", ToxicityDetector, lambda rule, layers: ToxicityDetector(layers)),
    DetectorEntry("leakage", LeakageDetector, lambda rule, layers: LeakageDetector()),
)
# Read-only: the order is the scan order (injection and harmful before jailbreak, which reads what they found).
DETECTORS = MappingProxyType({e.name: e for e in _ENTRIES})


def entry(name: str) -> DetectorEntry:
    """The registered detector called `name`, or a PolicyError listing the names there are."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise PolicyError(f"no detector named {name!r}: use one of {', '.join(DETECTORS)}") from None
