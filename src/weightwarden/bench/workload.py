"""The one workload every backend gets: chat prompts from the bundled simulated traffic (data/monitor/traffic.yaml,
the prompts of a support and writing assistant that the drift drills and bench/monitor.py use), drawn with a fixed
seed, and a fixed subset of the quality suite."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from weightwarden.errors import ConfigError
from weightwarden.monitor.simulate import Traffic

PROMPT_SEED = 17
# The eval subset: two multiple-choice tasks (scored by log-likelihood: the remote path needs echo log-probabilities)
# and one short generation task; quality.instructions asks for 128-token answers, too slow for a bench on a CPU.
EVAL_TASKS = ("quality.world_mc", "quality.reading", "quality.arithmetic")


def chat_prompts(n: int, seed: int = PROMPT_SEED) -> list[str]:
    """n prompts, topics in equal shares, the same n prompts on every run."""
    traffic = Traffic.bundled()
    rng = random.Random(seed)
    return [p for _, p in traffic.prompts(dict.fromkeys(traffic.topics, 1.0), n, rng)]


@dataclass(frozen=True)
class Workload:
    """What every backend is asked: prompts (streamed, greedy, max_tokens each) by 1 and by `clients` concurrent
    clients (each client sends every prompt, starting at its own offset), and `items` items per eval task."""

    prompts: tuple[str, ...]
    max_tokens: int = 64
    clients: int = 4
    items: int = 20
    tasks: tuple[str, ...] = EVAL_TASKS
    seed: int = PROMPT_SEED
    concurrency: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ConfigError("the bench needs at least one prompt: pass --prompts 1 or more")
        if self.max_tokens < 1:
            raise ConfigError(f"--max-tokens must be at least 1, not {self.max_tokens}")
        if self.clients < 1:
            raise ConfigError(f"--clients must be at least 1, not {self.clients}")
        if self.items < 1:
            raise ConfigError(f"--items must be at least 1, not {self.items}")
        object.__setattr__(self, "concurrency", tuple(sorted({1, self.clients})))

    @classmethod
    def bundled(cls, n_prompts: int = 8, **kwargs: Any) -> Workload:
        if n_prompts < 1:
            raise ConfigError(f"--prompts must be at least 1, not {n_prompts}")
        return cls(tuple(chat_prompts(n_prompts, kwargs.get("seed", PROMPT_SEED))), **kwargs)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["prompts"] = list(self.prompts)
        d["tasks"] = list(self.tasks)
        d["concurrency"] = list(self.concurrency)
        return d
