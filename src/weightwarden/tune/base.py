"""What a tune is made of: its error, its hyper-parameters with their defaults, and the progress it reports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from weightwarden.errors import WardenError

# The projections of a Llama block: attention and MLP. LoRA on all of them is the usual choice for small models.
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TuneError(WardenError):
    """Training data, settings or a checkpoint that cannot be used for a tune."""


@dataclass(frozen=True)
class TuneSettings:
    """The hyper-parameters of one LoRA tune; the defaults suit a ~100M-parameter Llama on a CPU.

    block_size: tokens per packed training sequence; batch_size: sequences per optimizer step;
    max_steps: stop after this many steps (0: run every epoch); warmup: fraction of the steps spent warming up;
    eval_every / save_every: steps between validation losses / checkpoints (0: only at the end);
    max_example_tokens: longer examples are reported and left out (so are examples longer than a block).
    """

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = LLAMA_TARGETS
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    epochs: int = 2
    max_steps: int = 0
    batch_size: int = 2
    block_size: int = 512
    warmup: float = 0.05
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_every: int = 25
    save_every: int = 25
    max_example_tokens: int = 512
    packing: bool = True

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["targets"] = list(self.targets)
        return out

    def fingerprint(self) -> str:
        """A hash of every setting that changes what training computes: a checkpoint only resumes its own run."""
        what = {k: v for k, v in self.as_dict().items() if k not in ("eval_every", "save_every")}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StepReport:
    """Where training is after one optimizer step: what a progress bar or a log line shows."""

    step: int
    total_steps: int
    loss: float
    tokens_seen: int
    tokens_per_s: float
    elapsed_s: float
    eta_s: float
    learning_rate: float
    val_loss: float | None = None


@dataclass
class LossCurve:
    """Training loss per step and validation loss at the steps it was measured."""

    train: list[tuple[int, float]] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"train": [list(p) for p in self.train], "val": [list(p) for p in self.val]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LossCurve:
        return cls(
            [(int(s), float(v)) for s, v in data.get("train", [])], [(int(s), float(v)) for s, v in data.get("val", [])]
        )
