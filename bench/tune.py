"""`warden tune`'s training loop against a plain PEFT + transformers.Trainer run, then the niche gain it buys.

Run: PYTHONPATH=src nice -n 10 .venv/bin/python bench/tune.py [--max-steps 40] [--batch-size 2] [--block-size 512]
     [--threads 2] [--device auto|cpu|cuda] [--eval-limit 100] [--skip-eval] [--json] [--out FILE]
     [--shapes-from DIR]

Part 1, throughput (same process, same base weights, same LoRA rank/alpha/targets/dropout, learning rate, seed,
data and answer-only labels): our loop (packed blocks, per-conversation masks) for --max-steps steps, then
transformers.Trainer with one conversation per row, padded per batch (DataCollatorForSeq2Seq), over the same number
of conversations. Each side reports real (non-padding) tokens per second of training and its peak resident memory
above what the process held before it started (sampled every 50 ms), and on a GPU the peak memory torch allocated
there. The ratio is ours / Trainer's. On a GPU both sides first run a few untimed steps, so neither pays for CUDA's
start-up and kernel selection.
--shapes-from DIR (throughput only): build the model from DIR's config.json and tokenizer with seeded random weights
instead of loading the default model's weights. Training speed depends on the shapes alone, so this measures the same
throughput where the weights cannot be brought (a GPU machine reached through a small transfer); losses are then
meaningless. `--save-shapes DIR` writes the default model's config and tokenizer to DIR for that.
Part 2, the proof (unless --skip-eval): the default model and the tuned F16 GGUF on the Quillbox held-out task,
McNemar's paired test on the same items, with Wilson intervals for each accuracy.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from weightwarden.eval import load_task, run_eval
from weightwarden.eval.compare import compare
from weightwarden.eval.compare_runs import run_scores
from weightwarden.eval.stats import wilson
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes import load_runtime, resolve
from weightwarden.tune import TuneRequest, TuneSettings, read_dataset, run_tune
from weightwarden.tune.encode import ChatEncoder, encode_all, pack
from weightwarden.tune.model import load_base
from weightwarden.tune.train import add_lora, train

EXAMPLE = Path(__file__).resolve().parent.parent / "src" / "weightwarden" / "data" / "tune" / "quillbox"


class PeakRss:
    """Peak resident memory of this process above its level at start, sampled in a thread."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


class PeakGpu:
    """Peak memory torch allocated on the GPU during the block (0 on the CPU)."""

    def __init__(self, device: str) -> None:
        self.device, self.peak = device, 0

    def __enter__(self) -> PeakGpu:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            self.peak = int(torch.cuda.max_memory_allocated())

    @property
    def mib(self) -> float:
        return self.peak / 2**20


def ours(
    base: Any, tokenizer: Any, encoded: list[Any], s: TuneSettings, tmp: Path, device: str = "cpu"
) -> dict[str, Any]:
    blocks = pack(encoded, s.block_size, seed=s.seed)
    model = add_lora(copy.deepcopy(base), s).to(device)
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    with PeakRss() as mem, PeakGpu(device) as gpu:
        t0 = time.perf_counter()
        out = train(model, blocks, s, tmp / "ours", pad_id=pad, fingerprint="bench", device=device)
        wall = time.perf_counter() - t0
    per_step = [blocks[i] for step in range(out.steps) for i in _batch(step, len(blocks), s)]
    conversations = sum(len(b.parts) for b in per_step)
    return {
        "steps": out.steps,
        "conversations": conversations,
        "tokens": out.tokens_seen,
        "wall_s": wall,
        "tokens_per_s": out.tokens_seen / wall,
        "peak_mib": mem.mib,
        "gpu_peak_mib": gpu.mib,
        "final_loss": out.final_loss,
    }


def _batch(step: int, n: int, s: TuneSettings) -> list[int]:
    import torch

    from weightwarden.tune.train import batch_of

    return batch_of(step, n, s, torch)


def trainer_baseline(
    base: Any, tokenizer: Any, encoded: list[Any], s: TuneSettings, conversations: int, tmp: Path, device: str = "cpu"
) -> dict[str, Any]:
    """The script a user would write: PEFT + Trainer, one conversation per row, padded per batch."""
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    rows = [{"input_ids": list(e.ids), "labels": list(e.labels), "attention_mask": [1] * len(e.ids)} for e in encoded]
    per_step = max(1, round(conversations / max(1, s.max_steps)))
    steps = max(1, s.max_steps)
    data = rows  # Trainer takes any sized, indexable dataset
    plain = copy.deepcopy(base)
    # Loaded from GGUF, the weights are already float32; the GGUF "quantizer" left on the model only makes Trainer
    # refuse it. A user's script would load the same weights from a folder, with no quantizer at all.
    plain.is_quantized, plain.hf_quantizer = False, None
    plain.config.__dict__.pop("quantization_config", None)
    model = get_peft_model(
        plain,
        LoraConfig(
            r=s.rank, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=list(s.targets), task_type="CAUSAL_LM"
        ),
    )
    args = TrainingArguments(
        output_dir=str(tmp / "trainer"),
        per_device_train_batch_size=per_step,
        max_steps=steps,
        learning_rate=s.learning_rate,
        warmup_steps=s.warmup,
        lr_scheduler_type="linear",
        max_grad_norm=s.max_grad_norm,
        seed=s.seed,
        logging_steps=max(1, steps // 4),
        save_strategy="no",
        report_to=[],
        use_cpu=device == "cpu",
        disable_tqdm=True,
    )
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    tokenizer.pad_token_id = pad
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collator)
    with PeakRss() as mem, PeakGpu(device) as gpu:
        t0 = time.perf_counter()
        result = trainer.train()
        wall = time.perf_counter() - t0
    seen = min(len(rows), per_step * steps) if per_step * steps <= len(rows) else per_step * steps
    # Real tokens: the rows the sampler drew are not exposed, so use the mean length of a row times rows trained.
    mean_len = sum(len(r["input_ids"]) for r in rows) / len(rows)
    tokens = mean_len * per_step * steps
    return {
        "steps": steps,
        "conversations": per_step * steps,
        "tokens": round(tokens),
        "wall_s": wall,
        "tokens_per_s": tokens / wall,
        "peak_mib": mem.mib,
        "gpu_peak_mib": gpu.mib,
        "final_loss": float(result.training_loss),
        "rows_seen": seen,
    }


def proof(tuned_gguf: Path, limit: int | None, threads: int, tmp: Path) -> dict[str, Any]:
    task = load_task(EXAMPLE / "quillbox.yaml")
    out: dict[str, Any] = {}
    with Ledger(f"sqlite:///{tmp / 'proof.db'}") as ledger:
        runs = {}
        for side, ref in (("base", "default"), ("tuned", str(tuned_gguf))):
            art = resolve(ref)
            ledger.upsert_model(ModelRecord.of(art))
            rt = load_runtime(art, threads=threads)
            try:
                runs[side] = run_eval(rt, art.sha256, [task], ledger, limit=limit, use_cache=False).run_id
            finally:
                rt.close()
        cmp = compare(run_scores(ledger, runs["base"]), run_scores(ledger, runs["tuned"]))
        m = cmp.get("niche.quillbox.exact_match")
        assert m is not None
        r = m.result
        for side, value in (("base", r.base), ("tuned", r.candidate)):
            k = round(value * r.n)
            interval = wilson(k, r.n)
            out[side] = {"accuracy": value, "correct": k, "n": r.n, "wilson95": [interval.low, interval.high]}
        out["paired"] = {
            "delta": r.delta,
            "p": r.p_value,
            "method": r.method,
            "flips_base_only": r.base_only,
            "flips_tuned_only": r.candidate_only,
        }
    return out


def load_shapes(folder: Path, seed: int) -> tuple[Any, Any]:
    """A model of the default model's shapes with seeded random weights, and its tokenizer (--shapes-from)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(str(folder))


def warm_up(base: Any, tokenizer: Any, encoded: list[Any], s: TuneSettings, tmp: Path, device: str) -> None:
    """A few untimed steps of both loops, so CUDA's start-up and kernel choices are paid before either is timed."""
    few = dataclasses.replace(s, max_steps=3)
    ours(base, tokenizer, encoded, few, tmp / "warm", device)
    trainer_baseline(base, tokenizer, encoded, few, 6, tmp / "warm", device)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--block-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="cuda when present (auto)")
    ap.add_argument("--epochs", type=int, default=3, help="Epochs of the full tune for the proof (default 3).")
    ap.add_argument("--eval-limit", type=int, default=None)
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--shapes-from", type=Path, default=None, help="random weights of DIR's shapes (throughput only)")
    ap.add_argument("--save-shapes", type=Path, default=None, help="write the default model's config/tokenizer")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    import torch

    from weightwarden.tune.model import pick_device

    torch.set_num_threads(a.threads)
    device = pick_device(a.device)
    if a.shapes_from is not None:
        if not a.skip_eval:
            ap.error("--shapes-from measures throughput only: add --skip-eval")
        art = None
        base, tokenizer = load_shapes(a.shapes_from, seed=0)
    else:
        art = resolve("default")
        assert art.path is not None
        base, tokenizer = load_base(art.path)
    if a.save_shapes is not None:
        base.config.save_pretrained(str(a.save_shapes))
        tokenizer.save_pretrained(str(a.save_shapes))
        print(f"wrote the default model's config and tokenizer to {a.save_shapes}", file=sys.stderr)
        return 0
    s = TuneSettings(
        max_steps=a.max_steps, batch_size=a.batch_size, block_size=a.block_size, save_every=0, eval_every=0
    )
    data = read_dataset(EXAMPLE / "train.jsonl")
    encoded, _ = encode_all(ChatEncoder(tokenizer), data.examples, s.max_example_tokens)
    report: dict[str, Any] = {
        "settings": s.as_dict(),
        "threads": a.threads,
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
        "weights": "random, shapes of " + str(a.shapes_from) if a.shapes_from else "default model",
        "torch": torch.__version__,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not a.skip_throughput:
            if device == "cuda":
                warm_up(base, tokenizer, encoded, s, tmp, device)
            mine = ours(base, tokenizer, encoded, s, tmp, device)
            theirs = trainer_baseline(base, tokenizer, encoded, s, mine["conversations"], tmp, device)
            report["throughput"] = {
                "ours": mine,
                "trainer": theirs,
                "ratio_tokens_per_s": mine["tokens_per_s"] / theirs["tokens_per_s"],
            }
            print(
                f"ours {mine['tokens_per_s']:.1f} tok/s, peak +{mine['peak_mib']:.0f} MiB; Trainer "
                f"{theirs['tokens_per_s']:.1f} tok/s, peak +{theirs['peak_mib']:.0f} MiB; ratio "
                f"{report['throughput']['ratio_tokens_per_s']:.2f}x",
                file=sys.stderr,
            )
        if not a.skip_eval:
            assert art is not None
            full = TuneSettings(epochs=a.epochs, batch_size=a.batch_size, block_size=a.block_size, save_every=0)
            t0 = time.perf_counter()
            result = run_tune(
                TuneRequest(
                    art,
                    EXAMPLE / "train.jsonl",
                    tmp / "tuned",
                    full,
                    val=EXAMPLE / "val.jsonl",
                    threads=a.threads,
                    quant="",
                ),
                loaded=(copy.deepcopy(base), tokenizer),
            )
            report["tune"] = {
                "wall_s": time.perf_counter() - t0,
                **{k: v for k, v in result.summary().items() if k not in ("outputs", "skipped_examples")},
            }
            assert result.gguf_f16 is not None
            t0 = time.perf_counter()
            report["niche"] = proof(result.gguf_f16, a.eval_limit, a.threads, tmp)
            report["niche"]["wall_s"] = time.perf_counter() - t0
    text = json.dumps(report, indent=1, default=str)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
