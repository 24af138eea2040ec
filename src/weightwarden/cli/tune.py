"""`warden tune BASE --data train.jsonl --out DIR`: LoRA on a niche, GGUF out, lineage in the ledger, and the proof.

Exit 0 when the tune is done and every gate passes, 1 when a gate fails, 2 on an error, 130 when interrupted
(a checkpoint is kept: run the same command with --resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from weightwarden.cli.common import DbOption, JsonOption, QuietOption, console, err_console, resolve_model, settings
from weightwarden.cli.output import echo_json
from weightwarden.eval import load_task
from weightwarden.ledger import Ledger
from weightwarden.runtimes import resolve
from weightwarden.tune import StepReport, TuneRequest, TuneSettings, run_tune
from weightwarden.tune.base import LLAMA_TARGETS
from weightwarden.tune.export import QUANT_TYPES
from weightwarden.tune.proof import Proof, proof_tasks, prove

D = TuneSettings()


class _Bar:
    """A rich bar with loss, tokens/s and ETA on a terminal; a log line every tenth of the run elsewhere."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.progress: Progress | None = None
        self.task: Any = None
        self.last_logged = -1

    def __enter__(self) -> _Bar:
        if not self.quiet and err_console.is_terminal:
            self.progress = Progress(
                TextColumn("tune"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("val {task.fields[val]}"),
                TextColumn("{task.fields[rate]} tok/s"),
                TimeRemainingColumn(),
                console=err_console,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, r: StepReport) -> None:
        if self.quiet:
            return
        val = f"{r.val_loss:.3f}" if r.val_loss is not None else "-"
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("tune", total=r.total_steps, loss="-", val="-", rate="-")
            fields: dict[str, Any] = {"loss": f"{r.loss:.3f}", "rate": f"{r.tokens_per_s:.0f}"}
            if r.val_loss is not None:
                fields["val"] = val
            self.progress.update(self.task, completed=r.step, **fields)
            return
        tenth = max(1, r.total_steps // 10)
        if r.step == r.total_steps or r.step // tenth > self.last_logged:
            self.last_logged = r.step // tenth
            err_console.print(
                f"tune step {r.step}/{r.total_steps} loss {r.loss:.3f} val {val} {r.tokens_per_s:.0f} tok/s "
                f"eta {r.eta_s:.0f}s",
                highlight=False,
            )


def _print_proof(proof: Proof) -> None:
    for name, v in proof.niche.items():
        console.print(
            f"{escape(name)}: base {v['base']:.3f} -> tuned {v['tuned']:.3f} ({v['delta']:+.3f}, p={v['p']:.3g}, "
            f"n={int(v['n'])})",
            highlight=False,
        )
    for m in proof.comparison.metrics:
        if m.level == "suite":
            r = m.result
            console.print(
                f"{escape(m.name)}: {r.base:.3f} -> {r.candidate:.3f} ({r.delta:+.3f}, p={r.p_value:.3g})",
                highlight=False,
            )
    for g in proof.gates:
        mark = "[green]PASS[/]" if g.passed else "[red]FAIL[/]"
        console.print(f"gate {escape(g.gate.metric)}: {mark} ({escape(g.reason)}, n={g.n})", highlight=False)


def tune(
    base: Annotated[str, typer.Argument(help="The base model: `default`, a .gguf file or a Hugging Face folder.")],
    data: Annotated[Path, typer.Option("--data", help="Training data: JSONL of {messages} or {prompt, completion}.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for checkpoints, the adapter, the merged model, GGUFs.")],
    val: Annotated[
        Path | None, typer.Option("--val", help="Validation JSONL (same format).", show_default=False)
    ] = None,
    task: Annotated[
        list[Path] | None,
        typer.Option("--task", help="Your task file (YAML) for the proof: the gain on your niche.", show_default=False),
    ] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=0, help="Stop after N steps (0: all epochs).")] = 0,
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = D.epochs,
    seed: Annotated[int, typer.Option("--seed")] = D.seed,
    rank: Annotated[int, typer.Option("--rank", min=1, help="LoRA rank.")] = D.rank,
    alpha: Annotated[int, typer.Option("--alpha", min=1, help="LoRA alpha (scale = alpha / rank).")] = D.alpha,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=0.9, help="LoRA dropout.")] = D.dropout,
    target: Annotated[str, typer.Option("--target", help="Comma-separated module names to adapt.")] = ",".join(
        LLAMA_TARGETS
    ),
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate.")] = D.learning_rate,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Packed blocks per step.")] = D.batch_size,
    block_size: Annotated[int, typer.Option("--block-size", min=16, help="Tokens per packed block.")] = D.block_size,
    max_example_tokens: Annotated[
        int, typer.Option("--max-example-tokens", min=8, help="Longer examples are reported and left out.")
    ] = D.max_example_tokens,
    no_packing: Annotated[bool, typer.Option("--no-packing", help="One conversation per block.")] = False,
    eval_every: Annotated[
        int, typer.Option("--eval-every", min=0, help="Steps between validation losses.")
    ] = D.eval_every,
    save_every: Annotated[int, typer.Option("--save-every", min=0, help="Steps between checkpoints.")] = D.save_every,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint in --out.")] = False,
    quant: Annotated[str, typer.Option("--quant", help="Quantized GGUF to make: q8_0, q4_k_m, q4_0 or none.")] = "q8_0",
    no_gguf: Annotated[bool, typer.Option("--no-gguf", help="Write no GGUF (adapter and merged folder only).")] = False,
    data_source: Annotated[str, typer.Option("--data-source", help="Where the data came from (for lineage).")] = (
        "unspecified"
    ),
    data_license: Annotated[str, typer.Option("--data-license", help="The data's licence (for lineage).")] = (
        "unspecified"
    ),
    allow_pii: Annotated[
        bool, typer.Option("--allow-pii", help="Train even when the data holds personal data or secrets.")
    ] = False,
    allow_contaminated: Annotated[
        bool,
        typer.Option(
            "--allow-contaminated",
            help="Train even when the data contains items of the evaluation (the --task files and the quality and "
            "safety suites); the overlap is recorded in the run.",
        ),
    ] = False,
    no_eval: Annotated[bool, typer.Option("--no-eval", help="Skip the proof (base vs tuned evaluation).")] = False,
    no_gate: Annotated[bool, typer.Option("--no-gate", help="Report the gates but exit 0 when one fails.")] = False,
    eval_limit: Annotated[
        int | None,
        typer.Option("--eval-limit", min=1, help="Items per task in the proof, spread out.", show_default=False),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")] = "auto",
    db: DbOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Adapt a model to your niche with LoRA, export it to GGUF, record its lineage, and prove what changed.

    Exit code 0 when done and every gate passes, 1 when a gate fails, 2 on an error.
    """
    s = settings(db=db)
    quiet_all = quiet or as_json
    targets = tuple(t.strip() for t in target.split(",") if t.strip())
    if not targets:
        raise typer.BadParameter("name at least one module", param_hint="--target")
    if quant.lower() not in (*QUANT_TYPES, "none"):
        raise typer.BadParameter(
            f"unknown quantization {quant!r}: use {', '.join(QUANT_TYPES)} or none", param_hint="--quant"
        )
    tune_settings = TuneSettings(
        rank=rank,
        alpha=alpha,
        dropout=dropout,
        targets=targets,
        learning_rate=lr,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        block_size=block_size,
        seed=seed,
        eval_every=eval_every,
        save_every=save_every,
        max_example_tokens=max_example_tokens,
        packing=not no_packing,
    )
    user_tasks = [load_task(p) for p in task or []]
    artifact = resolve_model(base, s, quiet_all)
    req = TuneRequest(
        artifact,
        data,
        out,
        tune_settings,
        val=val,
        data_source=data_source,
        data_license=data_license,
        resume=resume,
        quant="" if quant.lower() == "none" else quant,
        device=device,
        threads=s.threads,
        export_gguf=not no_gguf,
        allow_pii=allow_pii,
        check_tasks=tuple(proof_tasks(user_tasks)),
        allow_contaminated=allow_contaminated,
    )

    def say(text: str) -> None:
        if not quiet_all:
            err_console.print(escape(text), highlight=False)

    with Ledger(s.db_url) as ledger:
        with _Bar(quiet_all) as bar:
            result = run_tune(req, ledger, progress=bar, say=say)
        for line, why in result.skipped:
            say(f"left out {data.name} line {line}: {why}")
        summary: dict[str, Any] = {"run_id": result.run_id, **result.summary()}
        proof = None
        tuned_path = result.gguf_f16 or result.merged
        if not no_eval and tuned_path is not None:
            tuned = resolve(str(tuned_path))
            tasks = proof_tasks(user_tasks)

            def show(side: str, done: int, total: int, task_id: str) -> None:
                if not quiet_all and done == total:
                    err_console.print(f"proof: {side} {task_id} {done}/{total}", highlight=False)

            proof = prove(
                artifact,
                tuned,
                tasks,
                ledger,
                limit=eval_limit,
                threads=s.threads,
                user_task_ids=[t.id for t in user_tasks],
                progress=show,
            )
            summary["proof"] = proof.as_dict()
            if result.run_id is not None:  # the tune run points at the two eval runs that judged it
                ledger.add_event(
                    "tune.proof",
                    {
                        "base_run": proof.base_run,
                        "tuned_run": proof.tuned_run,
                        "passed": proof.passed,
                        "gates": [g.as_dict() for g in proof.gates],
                        "niche": proof.niche,
                    },
                    run_id=result.run_id,
                )
        verdict = "not evaluated" if proof is None else ("passed" if proof.passed else "failed")
        summary["verdict"] = verdict
    if as_json:
        echo_json(summary)
    else:
        o = result.outcome
        console.print(
            f"tune run {result.run_id}: {o.steps} steps, {o.tokens_seen} tokens in {o.wall_s:.0f} s, "
            f"final loss {o.final_loss}",
            highlight=False,
        )
        for key, path in summary["outputs"].items():
            if path and not key.endswith("sha256"):
                console.print(f"{key}: {escape(str(path))}", highlight=False)
        if proof is not None:
            _print_proof(proof)
        console.print(f"verdict: {verdict}", highlight=False)
    if result.outcome.interrupted:
        raise typer.Exit(130)
    if proof is not None and not proof.passed and not no_gate:
        raise typer.Exit(1)
