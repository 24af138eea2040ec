"""The LoRA training loop: seeded batches of packed blocks, AdamW with warm-up then decay, checkpoints, resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.tune import checkpoint
from weightwarden.tune.base import LossCurve, StepReport, TuneError, TuneSettings
from weightwarden.tune.encode import IGNORE, Block, collate

Progress = Callable[[StepReport], None]


@dataclass
class TrainOutcome:
    """What a training session did: steps done (in all sessions), tokens seen, wall time, the loss curve."""

    steps: int
    total_steps: int
    tokens_seen: int
    answer_tokens: int
    wall_s: float
    curve: LossCurve
    resumed_from: int | None = None
    interrupted: bool = False
    checkpoints: list[str] = field(default_factory=list)

    @property
    def final_loss(self) -> float | None:
        return self.curve.train[-1][1] if self.curve.train else None


def learning_rate(step: int, total: int, s: TuneSettings) -> float:
    """The learning rate of step (0-based): linear warm-up, then linear decay to a tenth of the peak."""
    warm = max(1, round(s.warmup * total))
    if step < warm:
        return s.learning_rate * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return s.learning_rate * (1.0 - 0.9 * frac)


def steps_per_epoch(n_blocks: int, s: TuneSettings) -> int:
    return max(1, math.ceil(n_blocks / s.batch_size))


def total_steps(n_blocks: int, s: TuneSettings) -> int:
    return s.max_steps if s.max_steps > 0 else steps_per_epoch(n_blocks, s) * s.epochs


def batch_of(step: int, n_blocks: int, s: TuneSettings, torch: Any) -> list[int]:
    """The block indices of a step: each epoch is a fresh seeded permutation, so a step's batch is a pure function."""
    per = steps_per_epoch(n_blocks, s)
    epoch, j = divmod(step, per)
    gen = torch.Generator().manual_seed(s.seed * 100_003 + epoch)
    order = torch.randperm(n_blocks, generator=gen).tolist()
    return [int(i) for i in order[j * s.batch_size : (j + 1) * s.batch_size]]


def add_lora(model: Any, s: TuneSettings) -> Any:
    """Wrap the model with LoRA adapters (seeded init) on the target projections."""
    import torch
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in s.targets if t not in present]
    if missing:
        raise TuneError(
            f"the model has no module named {', '.join(missing)}: pass --target with names it has "
            f"(for example {', '.join(sorted(n for n in present if n.endswith('proj'))[:8]) or 'q_proj,v_proj'})"
        )
    torch.manual_seed(s.seed)
    config = LoraConfig(
        r=s.rank,
        lora_alpha=s.alpha,
        lora_dropout=s.dropout,
        target_modules=list(s.targets),
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(model, config)


def _loss_sum(model: Any, batch: dict[str, Any], torch: Any) -> tuple[Any, int]:
    """Summed cross-entropy over answer tokens, and how many there were."""
    labels = batch.pop("labels")
    logits = model(**batch).logits[:, :-1]
    target = labels[:, 1:]
    n = int((target != IGNORE).sum())
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    return loss, n


def validation_loss(model: Any, blocks: Sequence[Block], pad_id: int, batch_size: int, device: str) -> float:
    """Mean loss per answer token over blocks, without gradients."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(blocks), batch_size):
            batch = {k: v.to(device) for k, v in collate(blocks[i : i + batch_size], pad_id, torch).items()}
            loss, n = _loss_sum(model, batch, torch)
            total += float(loss)
            count += n
    if was_training:
        model.train()
    return total / max(1, count)


@dataclass(frozen=True)
class Estimate:
    """How long training should take, from a timed forward and backward pass on the first step's batch."""

    seconds: float
    tokens: int
    steps: int
    warmup_tokens_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "tokens": self.tokens,
            "steps": self.steps,
            "warmup_tokens_per_s": round(self.warmup_tokens_per_s, 1),
        }


def estimate(
    model: Any, blocks: Sequence[Block], s: TuneSettings, *, pad_id: int, device: str = "cpu", start: int = 0
) -> Estimate:
    """Time two forward and backward passes of step `start`'s batch (the second one counts) and scale by tokens.

    The weights, the optimizer and the random state are left exactly as they were: no step is taken, gradients are
    dropped, and dropout draws from a forked generator, so a run with the estimate trains the same as one without.
    """
    import torch

    total = total_steps(len(blocks), s)
    chosen = [blocks[i] for i in batch_of(start, len(blocks), s, torch)]
    per_step = sum(b.length for b in blocks) / max(1, len(blocks)) * s.batch_size
    remaining = max(0, total - start)
    tokens = round(per_step * remaining)
    was_training = model.training
    model.train()
    elapsed = 0.0
    with torch.random.fork_rng(devices=[]):
        for _ in range(2):  # the first pass pays for allocations and kernel selection
            batch = {k: v.to(device) for k, v in collate(chosen, pad_id, torch).items()}
            t0 = time.perf_counter()
            loss_sum, n = _loss_sum(model, batch, torch)
            (loss_sum / max(1, n)).backward()
            elapsed = time.perf_counter() - t0
            model.zero_grad(set_to_none=True)
    model.train(was_training)
    seen = sum(b.length for b in chosen)
    rate = seen / elapsed if elapsed > 0 else 0.0
    # an optimizer step over the LoRA weights is small next to the passes; validation passes are forward only
    return Estimate(tokens / rate if rate > 0 else 0.0, tokens, remaining, rate)


def train(
    model: Any,
    blocks: Sequence[Block],
    s: TuneSettings,
    ckpt_dir: Path,
    *,
    pad_id: int,
    fingerprint: str,
    val_blocks: Sequence[Block] = (),
    resume: bool = False,
    device: str = "cpu",
    progress: Progress | None = None,
    stop_after: int | None = None,
) -> TrainOutcome:
    """Train the LoRA model in place; return what was done.

    fingerprint: identifies the data and settings, so a checkpoint is resumed only by the run that made it.
    stop_after: end the session (with a checkpoint) after this many steps of it, as an interruption would.
    A KeyboardInterrupt also saves a checkpoint of the last finished step, then propagates.
    """
    import torch

    if not blocks:
        raise TuneError("no training blocks: every example was left out (see the report of skipped lines)")
    total = total_steps(len(blocks), s)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay)
    start, tokens, answers, elapsed_before = 0, 0, 0, 0.0
    curve = LossCurve()
    resumed_from = None
    if resume:
        ckpt = checkpoint.latest(ckpt_dir)
        if ckpt is None:
            raise TuneError(f"--resume: no checkpoint in {ckpt_dir}; run without --resume to start")
        if ckpt.state.get("fingerprint") != fingerprint:
            raise TuneError(
                f"--resume: checkpoint {ckpt.path.name} was made with other data or settings; "
                "use the same flags and data, or start again without --resume in a new --out"
            )
        checkpoint.restore(ckpt, model, optimizer)
        start, resumed_from = ckpt.step, ckpt.step
        tokens, answers = int(ckpt.state["tokens_seen"]), int(ckpt.state["answer_tokens"])
        elapsed_before = float(ckpt.state["wall_s"])
        curve = LossCurve.from_dict(ckpt.state["curve"])
    outcome = TrainOutcome(start, total, tokens, answers, elapsed_before, curve, resumed_from)

    def save(step: int) -> None:
        state = {
            "fingerprint": fingerprint,
            "tokens_seen": outcome.tokens_seen,
            "answer_tokens": outcome.answer_tokens,
            "wall_s": outcome.wall_s,
            "curve": outcome.curve.as_dict(),
        }
        outcome.checkpoints.append(str(checkpoint.save(ckpt_dir, step, model, optimizer, state)))

    model.train()
    t0 = time.perf_counter()
    session_tokens = 0
    step = start
    try:
        while step < total:
            if stop_after is not None and step - start >= stop_after:
                outcome.interrupted = True
                save(step)
                return outcome
            lr = learning_rate(step, total, s)
            for group in optimizer.param_groups:
                group["lr"] = lr
            chosen = [blocks[i] for i in batch_of(step, len(blocks), s, torch)]
            batch = {k: v.to(device) for k, v in collate(chosen, pad_id, torch).items()}
            loss_sum, n = _loss_sum(model, batch, torch)
            loss = loss_sum / max(1, n)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if s.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm)
            optimizer.step()
            step += 1
            value = float(loss.detach())
            seen = sum(b.length for b in chosen)
            session_tokens += seen
            outcome.steps, outcome.tokens_seen, outcome.answer_tokens = (
                step,
                outcome.tokens_seen + seen,
                outcome.answer_tokens + n,
            )
            outcome.wall_s = elapsed_before + (time.perf_counter() - t0)
            outcome.curve.train.append((step, round(value, 5)))
            val = None
            if val_blocks and (step == total or (s.eval_every and step % s.eval_every == 0)):
                val = round(validation_loss(model, val_blocks, pad_id, s.batch_size, device), 5)
                outcome.curve.val.append((step, val))
            if s.save_every and step % s.save_every == 0 and step < total:
                save(step)
            if progress is not None:
                session = time.perf_counter() - t0
                rate = session_tokens / session if session > 0 else 0.0
                per_step = session / max(1, step - start)
                progress(
                    StepReport(
                        step,
                        total,
                        value,
                        outcome.tokens_seen,
                        rate,
                        outcome.wall_s,
                        per_step * (total - step),
                        lr,
                        val,
                    )
                )
    except KeyboardInterrupt:
        outcome.interrupted = True
        if step > start:
            save(step)
        raise
    return outcome
