"""One tune from start to end: data, base model, LoRA training, exports, and the lineage row in the ledger."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.eval.suites import EvalTask
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes.artifact import Artifact, sha256_file
from weightwarden.runtimes.energy import EnergyMeter, EnergyReading
from weightwarden.tune import checkpoint, export
from weightwarden.tune.base import StepReport, TuneError, TuneSettings
from weightwarden.tune.data import Dataset, read_dataset
from weightwarden.tune.encode import ChatEncoder, encode_all, pack
from weightwarden.tune.model import count_parameters, load_base, pick_device
from weightwarden.tune.overlap import Overlap, find_overlaps
from weightwarden.tune.screen import screen
from weightwarden.tune.train import Estimate, TrainOutcome, add_lora, estimate, total_steps, train

Say = Callable[[str], None]


@dataclass(frozen=True)
class TuneRequest:
    """What to tune: the base (resolved), the data, where outputs go, and how.

    quant: a llama.cpp quantization for the second GGUF ("" for none); stop_after: end after this many steps
    with a checkpoint, as an interruption would (tests use it). check_tasks: the evaluation tasks the tune will be
    judged on; training data that contains their items is refused unless allow_contaminated.
    """

    base: Artifact
    data: Path
    out: Path
    settings: TuneSettings = field(default_factory=TuneSettings)
    val: Path | None = None
    data_source: str = "unspecified"
    data_license: str = "unspecified"
    resume: bool = False
    quant: str = "q8_0"
    device: str = "auto"
    threads: int = 0
    export_gguf: bool = True
    stop_after: int | None = None
    allow_pii: bool = False
    check_tasks: tuple[EvalTask, ...] = ()
    allow_contaminated: bool = False


@dataclass
class TuneResult:
    """What a tune produced and measured; paths are None for outputs that were not made."""

    run_id: str | None
    outcome: TrainOutcome
    data: Dataset
    skipped: list[tuple[int, str]]
    trainable_params: int
    total_params: int
    flops: float
    adapter: Path | None = None
    merged: Path | None = None
    gguf_f16: Path | None = None
    gguf_quant: Path | None = None
    gguf_f16_sha256: str | None = None
    gguf_quant_sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    estimate: Estimate | None = None
    energy: EnergyReading | None = None
    overlaps: list[Overlap] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "steps": o.steps,
            "total_steps": o.total_steps,
            "interrupted": o.interrupted,
            "resumed_from": o.resumed_from,
            "tokens_seen": o.tokens_seen,
            "answer_tokens": o.answer_tokens,
            "wall_s": round(o.wall_s, 2),
            "final_loss": o.final_loss,
            "final_val_loss": o.curve.val[-1][1] if o.curve.val else None,
            "loss_curve": o.curve.as_dict(),
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "estimated_flops": self.flops,
            "estimate": self.estimate.as_dict() if self.estimate else None,
            "energy": self.energy.as_dict() if self.energy else None,
            "contamination": [o.as_dict() for o in self.overlaps],
            "skipped_examples": [{"line": n, "why": w} for n, w in self.skipped],
            "outputs": {
                "adapter": str(self.adapter) if self.adapter else None,
                "merged": str(self.merged) if self.merged else None,
                "gguf_f16": str(self.gguf_f16) if self.gguf_f16 else None,
                "gguf_quant": str(self.gguf_quant) if self.gguf_quant else None,
                "gguf_f16_sha256": self.gguf_f16_sha256,
                "gguf_quant_sha256": self.gguf_quant_sha256,
            },
            "notes": self.notes,
        }


def estimate_flops(tokens: int, total_params: int, trainable_params: int) -> float:
    """Training FLOPs: forward 2N per token, backward 2N for activations plus 4N' for the trainable weights' grads."""
    return float(tokens) * (4.0 * total_params + 6.0 * trainable_params)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def _fingerprint(req: TuneRequest, data: Dataset, val: Dataset | None) -> str:
    parts = [req.settings.fingerprint(), req.base.sha256, data.sha256, val.sha256 if val else "-"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def run_tune(
    req: TuneRequest,
    ledger: Ledger | None = None,
    *,
    progress: Callable[[StepReport], None] | None = None,
    say: Say | None = None,
    loaded: tuple[Any, Any] | None = None,
) -> TuneResult:
    """Train, export and record one tune; a failure leaves the ledger run marked failed, Ctrl-C interrupted.

    loaded: the base's (model, tokenizer) already in memory (a fresh copy: training changes it).
    """
    import torch

    def note(text: str) -> None:
        if say is not None:
            say(text)

    s = req.settings
    if req.base.path is None:
        raise TuneError(f"{req.base.ref} is a remote model: tune needs the weights on disk (a GGUF or an HF folder)")
    data = read_dataset(req.data, source=req.data_source, license=req.data_license)
    val = read_dataset(req.val) if req.val else None
    findings = [f for ds in (data, val) if ds is not None for f in screen(ds)]
    if findings and not req.allow_pii:
        first = ", ".join(f"line {f.line} ({f.kind} {f.excerpt})" for f in findings[:3])
        raise TuneError(
            f"the training data holds {len(findings)} piece(s) of personal data or secrets, e.g. {first}: a tuned "
            "model can repeat them; remove them, or pass --allow-pii if they are meant to be learned"
        )
    if findings:
        note(f"{len(findings)} PII/secret hits in the data, allowed by --allow-pii")
    overlaps = find_overlaps(data, req.check_tasks) if req.check_tasks else []
    if overlaps and not req.allow_contaminated:
        first = "; ".join(
            f"{o.task} item {o.item} (line{'s' if len(o.lines) > 1 else ''} {', '.join(map(str, o.lines))})"
            for o in overlaps[:3]
        )
        raise TuneError(
            f"the training data contains {len(overlaps)}{'+' if len(overlaps) >= 50 else ''} item(s) of the "
            f"evaluation the tune is judged on, e.g. {first}: training on the test makes the proof worthless; "
            "remove those lines, or pass --allow-contaminated to train anyway (the run records it)"
        )
    if overlaps:
        note(f"{len(overlaps)} evaluation item(s) found in the training data, allowed by --allow-contaminated")
    if req.threads:
        torch.set_num_threads(req.threads)
    device = pick_device(req.device)
    note(f"loading {req.base.name} for training on {device}")
    model, tokenizer = loaded if loaded is not None else load_base(req.base.path)
    encoder = ChatEncoder(tokenizer)
    limit = min(s.max_example_tokens, s.block_size)  # a conversation is never split, so it must fit in a block
    kept, too_long = encode_all(encoder, data.examples, limit)
    skipped = sorted([*data.skipped, *too_long])
    blocks = pack(kept, s.block_size, packing=s.packing, seed=s.seed)
    val_blocks = []
    if val is not None:
        vkept, _ = encode_all(encoder, val.examples, limit)
        val_blocks = pack(vkept, s.block_size, packing=s.packing, seed=s.seed)
    if not blocks:
        raise TuneError(f"every example in {req.data} was left out: {skipped[:3]}")
    pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    n_tokens = sum(b.length for b in blocks)
    note(
        f"{len(kept)} examples ({sum(e.answer_tokens for e in kept)} answer tokens of {n_tokens}) in {len(blocks)} "
        f"blocks of up to {s.block_size} tokens; {len(skipped)} left out; "
        f"{total_steps(len(blocks), s)} steps of {s.batch_size} blocks"
    )
    peft_model = add_lora(model, s).to(device)
    trainable, total = count_parameters(peft_model)
    start_step = 0
    if req.resume:
        found = checkpoint.latest(req.out / "checkpoints")
        start_step = found.step if found is not None else 0
    guess = estimate(peft_model, blocks, s, pad_id=pad_id, device=device, start=start_step)
    note(
        f"estimated training time: {_duration(guess.seconds)} for {guess.steps} steps ({guess.tokens} tokens), "
        f"from a warm-up pass at {guess.warmup_tokens_per_s:.0f} tokens/s"
    )
    config = {
        "base": {"ref": req.base.ref, "name": req.base.name, "sha256": req.base.sha256, "format": req.base.format},
        "data": data.describe(),
        "val": val.describe() if val else None,
        "settings": s.as_dict(),
        "device": device,
        "threads": torch.get_num_threads(),
        "resume": req.resume,
        "pii_findings": len(findings),
        "contamination": {
            "checked_tasks": sorted({t.id for t in req.check_tasks}),
            "items_found": [o.as_dict() for o in overlaps],
            "allowed": req.allow_contaminated,
        },
        "out": str(req.out),
        "estimate": guess.as_dict(),
    }
    run_id = None
    if ledger is not None:
        ledger.upsert_model(ModelRecord.of(req.base))
        run_id = ledger.start_run("tune", req.base.sha256, config)
    req.out.mkdir(parents=True, exist_ok=True)
    result: TuneResult | None = None
    status = "failed"
    meter = EnergyMeter().start()
    try:
        outcome = train(
            peft_model,
            blocks,
            s,
            req.out / "checkpoints",
            pad_id=pad_id,
            fingerprint=_fingerprint(req, data, val),
            val_blocks=val_blocks,
            resume=req.resume,
            device=device,
            progress=progress,
            stop_after=req.stop_after,
        )
        energy = meter.stop()
        result = TuneResult(
            run_id, outcome, data, skipped, trainable, total, estimate_flops(outcome.tokens_seen, total, trainable)
        )
        result.estimate, result.energy, result.overlaps = guess, energy, overlaps
        note(f"training energy: {energy.kwh * 1000:.2f} Wh ({energy.source}: {energy.basis})")
        if outcome.interrupted:
            status = "interrupted"
            result.notes.append(f"stopped after step {outcome.steps}: continue with --resume")
            return result
        result.adapter = export.save_adapter(peft_model, req.out / "adapter")
        note(f"adapter: {result.adapter}")
        merged = peft_model.merge_and_unload()
        merged.eval()
        result.merged = export.save_merged(merged.to("cpu"), tokenizer, req.out / "merged")
        if req.export_gguf and req.base.format == "gguf":
            lineage = export.Lineage(
                req.base.name, req.base.sha256, data.path.name, data.sha256, data.source, data.license, run_id or "-"
            )
            t0 = time.perf_counter()
            result.gguf_f16 = export.write_gguf_f16(merged, req.base.path, req.out / "model-f16.gguf", lineage)
            result.gguf_f16_sha256 = sha256_file(result.gguf_f16)
            if req.quant:
                q = export.quantize(
                    result.gguf_f16, req.out / f"model-{req.quant.lower()}.gguf", req.quant, req.threads
                )
                result.gguf_quant, result.gguf_quant_sha256 = q, sha256_file(q)
            note(f"GGUF written in {time.perf_counter() - t0:.1f} s: {result.gguf_f16}")
        elif req.export_gguf:
            result.notes.append("no GGUF: the base is not a GGUF file, so there is no llama.cpp metadata to carry over")
        if ledger is not None:
            _record_outputs(ledger, result, req)
        status = "ok"
        return result
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if ledger is not None and run_id is not None:
            summary = result.summary() if result is not None else {}
            ledger.finish_run(run_id, status, summary)


def _record_outputs(ledger: Ledger, result: TuneResult, req: TuneRequest) -> None:
    """The tuned GGUFs as models of the ledger, each naming its base, its data and the tune run."""
    lineage = {
        "base_model": {"sha256": req.base.sha256, "name": req.base.name},
        "dataset": {
            "sha256": result.data.sha256,
            "name": result.data.path.name,
            "source": result.data.source,
            "license": result.data.license,
        },
        "tune_run": result.run_id,
    }
    for path, sha in ((result.gguf_f16, result.gguf_f16_sha256), (result.gguf_quant, result.gguf_quant_sha256)):
        if path is None or sha is None:
            continue
        ledger.upsert_model(
            ModelRecord(sha, f"{req.base.name} tuned ({path.name})", "gguf", path.stat().st_size, {"lineage": lineage})
        )
