"""The serving policy: the guard's rules plus what the gateway keeps, for how long, and what tokens cost.

One YAML file, passed with `warden serve --policy FILE`. It is a guard policy (the same keys `warden scan
--policy` reads: version, name, deep, layers, max_chars, input, output) with the gateway's own keys beside them:

    store_text: false          # keep prompt and answer text in the audit rows (off by default)
    retention_days: 30         # after this, stored text is blanked and request sketches deleted (the rest stays)
    sketches: true             # keep a text-free sketch of each request for drift tests (weightwarden.monitor)
    watermark: false           # true: mark every generated answer (key: WARDEN_WATERMARK_KEY, watermark_key_file
                               # or HOME/watermark.key); each audit row keeps the key's fingerprint
    prices:                    # USD per million tokens, for costs and USD budgets; "*" is every other model
      "*": {prompt: 0.0, completion: 0.0}
    input:                     # the guard: without input/output keys the guard's bundled policy applies;
      injection: {action: block}   # `input: {}` and `output: {}` turn it off
    output:
      pii: {action: redact}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from weightwarden.errors import ConfigError
from weightwarden.gateway.guard_hook import load_guard_policy

if TYPE_CHECKING:
    from weightwarden.guard import Policy

GATEWAY_KEYS = ("store_text", "retention_days", "watermark", "prices", "sketches")
GUARD_KEYS = ("version", "name", "deep", "layers", "max_chars", "input", "output")


@dataclass(frozen=True)
class Price:
    """USD per million prompt and completion tokens."""

    prompt: float = 0.0
    completion: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1_000_000


@dataclass(frozen=True)
class ServingPolicy:
    """guard: the guard's policy, or None for no guard."""

    guard: Policy | None = None
    store_text: bool = False
    retention_days: float = 30.0
    watermark: bool = False
    prices: dict[str, Price] = field(default_factory=dict)
    source: str = "built-in"
    sketches: bool = True

    def price(self, model: str) -> Price:
        return self.prices.get(model) or self.prices.get("*") or Price()


def default_serving_policy() -> ServingPolicy:
    """No text stored, free tokens, and the guard's bundled policy."""
    return ServingPolicy(guard=load_guard_policy(None, "the default policy"), source="default")


def _price(value: Any, where: str) -> Price:
    if not isinstance(value, dict) or set(value) - {"prompt", "completion"}:
        raise ConfigError(f"{where} must be a mapping like {{prompt: 0.15, completion: 0.60}} (USD per 1M tokens)")
    try:
        price = Price(float(value.get("prompt", 0.0)), float(value.get("completion", 0.0)))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: prices are numbers (USD per million tokens)") from None
    if price.prompt < 0 or price.completion < 0:
        raise ConfigError(f"{where}: prices cannot be negative")
    return price


def parse_serving_policy(data: Any, source: str) -> ServingPolicy:
    """A ServingPolicy from parsed YAML; every mistake is a ConfigError that says how to fix it."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a policy is a YAML mapping (store_text, retention_days, prices, input, output)")
    if unknown := sorted(set(data) - set(GATEWAY_KEYS) - set(GUARD_KEYS)):
        known = ", ".join(GATEWAY_KEYS + GUARD_KEYS)
        raise ConfigError(f"{source}: unknown key(s) {', '.join(map(str, unknown))}; known: {known}")
    store_text = data.get("store_text", False)
    if not isinstance(store_text, bool):
        raise ConfigError(f"{source}: store_text must be true or false")
    retention = data.get("retention_days", 30)
    if isinstance(retention, bool) or not isinstance(retention, (int, float)) or retention <= 0:
        raise ConfigError(f"{source}: retention_days must be a positive number of days")
    watermark = data.get("watermark", False)
    if not isinstance(watermark, bool):
        raise ConfigError(f"{source}: watermark must be true or false")
    sketches = data.get("sketches", True)
    if not isinstance(sketches, bool):
        raise ConfigError(f"{source}: sketches must be true or false")
    prices_raw = data.get("prices") or {}
    if not isinstance(prices_raw, dict):
        raise ConfigError(f'{source}: prices maps model names (or "*") to {{prompt: X, completion: Y}}')
    prices = {str(name): _price(value, f"{source}: prices.{name}") for name, value in prices_raw.items()}
    guard_part = {k: data[k] for k in GUARD_KEYS if k in data}
    has_rules = "input" in guard_part or "output" in guard_part
    return ServingPolicy(
        guard=load_guard_policy(guard_part if has_rules else None, source),
        store_text=store_text,
        retention_days=float(retention),
        watermark=watermark,
        prices=prices,
        source=source,
        sketches=sketches,
    )


def load_serving_policy(path: Path | str | None) -> ServingPolicy:
    """Read a policy file; None gives the default policy."""
    if path is None:
        return default_serving_policy()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the policy file {p}: {exc.strerror or exc}; check the path") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"the policy file {p} is not valid YAML: {exc}") from None
    return parse_serving_policy(data, str(p))
