"""A guard policy: which detectors run on input and on output, their thresholds, and what happens on a hit.

version: 1
layers: [gate, encoder]     # which learned layers run: gate, encoder (default); patterns, linear, embedding (older)
deep: false                 # also run the older MiniLM embedding layer
max_chars: 20000000         # longer texts are refused with an error, never truncated
input:
  injection: {action: block, threshold: 0.5}
  jailbreak: {action: flag, threshold: 0.9, block_above: 0.99}   # flag from 0.9, block from 0.99
  pii: {action: redact, kinds: [email, card]}
output:
  leakage: {action: block}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from weightwarden.guard.base import ACTIONS, PolicyError, Side

DEFAULT_POLICY_FILE = "policy.default.yaml"
DETECTOR_SIDES: dict[str, tuple[Side, ...]] = {
    "injection": ("input",),
    "jailbreak": ("input",),
    "harmful": ("input",),
    "pii": ("input", "output"),
    "secrets": ("input", "output"),
    "toxicity": ("input", "output"),
    "leakage": ("output",),
}
OPTIONS = {"pii": {"kinds"}, "harmful": {"categories"}}
LAYER_NAMES = ("gate", "encoder", "patterns", "linear", "embedding")


@dataclass(frozen=True)
class Rule:
    """One detector on one side: its threshold, its action and detector-specific options."""

    detector: str
    action: str = "block"
    threshold: float = 0.5
    options: dict[str, Any] = field(default_factory=dict)
    block_above: float | None = None  # a second, higher threshold at which a flagging (or logging) rule blocks

    def action_at(self, score: float) -> str:
        """The action for a score at or above `threshold`: `block` from `block_above` on, else the rule's action."""
        return "block" if self.block_above is not None and score >= self.block_above else self.action


@dataclass(frozen=True)
class Policy:
    name: str
    input: tuple[Rule, ...]
    output: tuple[Rule, ...]
    deep: bool = False
    max_chars: int = 20_000_000
    layers: tuple[str, ...] | None = None  # None: the layers of policies written before `layers:` existed

    def rules(self, side: Side) -> tuple[Rule, ...]:
        return self.input if side == "input" else self.output

    def as_dict(self) -> dict[str, Any]:
        def side(rules: tuple[Rule, ...]) -> dict[str, Any]:
            return {
                r.detector: {
                    "action": r.action,
                    "threshold": r.threshold,
                    **({"block_above": r.block_above} if r.block_above is not None else {}),
                    **r.options,
                }
                for r in rules
            }

        return {
            "name": self.name,
            "deep": self.deep,
            "layers": list(self.layers) if self.layers is not None else None,
            "max_chars": self.max_chars,
            "input": side(self.input),
            "output": side(self.output),
        }


def _rules(raw: Any, side: Side, source: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: `{side}` must map detector names to settings, got {type(raw).__name__}")
    out = []
    for name, conf in raw.items():
        if name not in DETECTOR_SIDES:
            raise PolicyError(f"{source}: unknown detector {name!r} under {side}; known: {', '.join(DETECTOR_SIDES)}")
        if side not in DETECTOR_SIDES[name]:
            raise PolicyError(
                f"{source}: detector {name!r} runs on {'/'.join(DETECTOR_SIDES[name])} only, not on {side}"
            )
        conf = {} if conf is None else conf
        if not isinstance(conf, dict):
            raise PolicyError(f"{source}: settings of {side}.{name} must be a mapping like {{action: block}}")
        action = conf.get("action", "block")
        if action not in ACTIONS:
            raise PolicyError(f"{source}: {side}.{name} has action {action!r}; use one of {', '.join(ACTIONS)}")
        try:
            threshold = float(conf.get("threshold", 0.5))
        except (TypeError, ValueError):
            raise PolicyError(f"{source}: {side}.{name}.threshold must be a number between 0 and 1") from None
        if not 0.0 <= threshold <= 1.0:
            raise PolicyError(f"{source}: {side}.{name}.threshold is {threshold}; use a number between 0 and 1")
        block_above = _block_above(conf, action, threshold, f"{source}: {side}.{name}")
        extra = set(conf) - {"action", "threshold", "block_above"}
        unknown = extra - OPTIONS.get(name, set())
        if unknown:
            raise PolicyError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))} for {side}.{name}")
        options = {k: conf[k] for k in extra}
        for key, value in options.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise PolicyError(f"{source}: {side}.{name}.{key} must be a list of names")
        out.append(Rule(name, action, threshold, options, block_above))
    return tuple(out)


def _block_above(conf: dict[str, Any], action: str, threshold: float, where: str) -> float | None:
    """The optional `block_above`: a number from `threshold` to 1, on a rule that does not already block."""
    if conf.get("block_above") is None:
        return None
    if action in ("block", "redact"):
        raise PolicyError(f"{where}.block_above needs action flag or log: with action {action} it would never apply")
    try:
        if isinstance(conf["block_above"], bool):  # YAML's yes/true would read as 1.0
            raise TypeError
        value = float(conf["block_above"])
    except (TypeError, ValueError):
        raise PolicyError(f"{where}.block_above must be a number between the threshold and 1") from None
    if not threshold <= value <= 1.0:
        raise PolicyError(
            f"{where}.block_above is {value}; use a number from the threshold ({threshold}) to 1, or leave it out"
        )
    return value


def parse_policy(data: Any, source: str = "policy") -> Policy:
    """A Policy from parsed YAML, with every mistake reported as a PolicyError that names the fix."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a YAML mapping with `input:` and `output:` sections")
    unknown = set(data) - {"version", "name", "deep", "layers", "max_chars", "input", "output"}
    if unknown:
        raise PolicyError(
            f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
            "expected version, name, deep, layers, max_chars, input, output"
        )
    layers = data.get("layers")
    if layers is not None:
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise PolicyError(f"{source}: layers must be a list such as [gate, encoder]")
        bad = [x for x in layers if x not in LAYER_NAMES]
        if bad:
            raise PolicyError(f"{source}: unknown layer(s) {', '.join(bad)}; known: {', '.join(LAYER_NAMES)}")
    if data.get("version", 1) != 1:
        raise PolicyError(f"{source}: policy version {data.get('version')!r} is not supported; use version: 1")
    try:
        max_chars = int(data.get("max_chars", 20_000_000))
    except (TypeError, ValueError):
        raise PolicyError(f"{source}: max_chars must be a whole number") from None
    if max_chars < 1:
        raise PolicyError(f"{source}: max_chars must be at least 1")
    return Policy(
        name=str(data.get("name", source)),
        input=_rules(data.get("input"), "input", source),
        output=_rules(data.get("output"), "output", source),
        deep=bool(data.get("deep", False)),
        max_chars=max_chars,
        layers=tuple(layers) if layers is not None else None,
    )


def load_policy(path: Path | str | None = None) -> Policy:
    """A policy file, or the bundled default policy when `path` is None."""
    if path is None:
        return default_policy()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {p}: {exc.strerror or exc}; check the path") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {p} is not valid YAML: {exc}") from None
    return parse_policy(data, str(p))


@cache
def default_policy() -> Policy:
    path = Path(str(resources.files("weightwarden") / "data" / "guard" / DEFAULT_POLICY_FILE))
    return load_policy(path)
