"""Simulated traffic: prompts drawn from the topics of data/monitor/traffic.yaml, for drift drills and benchmarks."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import yaml

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Traffic:
    """Topics of templates with slots; prompt(topic, rng) fills one at random."""

    data: dict[str, Any]

    @classmethod
    def bundled(cls) -> Traffic:
        text = resources.files("weightwarden").joinpath("data/monitor/traffic.yaml").read_text(encoding="utf-8")
        return cls(yaml.safe_load(text))

    @cached_property
    def topics(self) -> list[str]:
        return list(self.data["topics"])

    def prompt(self, topic: str, rng: random.Random) -> str:
        spec = self.data["topics"][topic]
        slots = {**self.data.get("shared", {}), **spec.get("slots", {})}
        template = rng.choice(spec["templates"])
        text = _SLOT.sub(lambda m: str(rng.choice(slots[m.group(1)])), template)
        return text[0].upper() + text[1:] if text else text

    def prompts(self, mix: dict[str, float], n: int, rng: random.Random) -> list[tuple[str, str]]:
        """n (topic, prompt) pairs with topics drawn in the proportions of mix."""
        names, weights = list(mix), list(mix.values())
        return [(t, self.prompt(t, rng)) for t in rng.choices(names, weights=weights, k=n)]
