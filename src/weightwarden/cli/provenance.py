"""`warden contamination` (is a benchmark in the training data?) and `warden regurgitation` (does the model recite
documents it should not?)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from weightwarden.cli.common import (
    BackendOption,
    DbOption,
    JsonOption,
    QuietOption,
    console,
    err_console,
    open_runtime,
    resolve_model,
    settings,
)
from weightwarden.ledger import Ledger
from weightwarden.provenance import Corpus, check_contamination, check_regurgitation, load_bench
from weightwarden.provenance.exact import CHARS, NGRAM
from weightwarden.provenance.minkprob import DEFAULT_K
from weightwarden.provenance.record import record_contamination, record_regurgitation
from weightwarden.provenance.regurgitation import THRESHOLD_CHARS
from weightwarden.runtimes.platform_info import PLATFORM_KEY, platform_info

VERDICT_STYLE = {"contaminated": "bold red", "partial": "yellow", "clean": "green", "too short": "dim"}


def _snippet(text: str, size: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _bar(quiet: bool) -> Progress | None:
    if quiet:
        return None
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console, transient=True
    )


def contamination(
    bench: Annotated[
        Path, typer.Option("--bench", help="Benchmark items: JSONL, JSON or YAML with `text` or `question`/`answer`.")
    ],
    train: Annotated[
        Path | None,
        typer.Option(
            "--train", help="Training corpus: a folder or file of .txt, .md or .jsonl (.gz too).", show_default=False
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Also score items with Min-K% and Min-K%++ under this model.", show_default=False),
    ] = None,
    k: Annotated[
        float, typer.Option("--k", min=0.01, max=1.0, help="Share of least likely tokens Min-K% averages.")
    ] = DEFAULT_K,
    show: Annotated[int, typer.Option("--show", min=0, help="Most items to list (contaminated first).")] = 20,
    backend: BackendOption = "auto",
    db: DbOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Check each benchmark item for 13-word and 50-character overlaps with a training corpus (streamed, so a
    multi-GB corpus runs in bounded memory): contaminated (half or more of the item overlaps), partial, or clean, with
    the overlapping spans. With --model, Min-K% and Min-K%++ membership scores are added as supporting evidence, and
    the run is recorded in the ledger. Exit status 1 when an item is contaminated; 2 on an error.
    """
    s = settings(db=db)
    items = load_bench(bench)
    corpus = Corpus(train) if train is not None else None
    artifact = runtime = None
    where: dict[str, Any] = {}  # what the model's membership scores ran on
    if model is not None:
        artifact = resolve_model(model, s, quiet or as_json)
        runtime = open_runtime(artifact, backend, s)
        where = {PLATFORM_KEY: platform_info(threads=runtime.info.details.get("threads")).as_dict()}
    bar = _bar(quiet or as_json)
    try:
        if bar is None:
            report = check_contamination(items, corpus, runtime, k=k)
        else:
            with bar:
                tasks: dict[str, Any] = {}

                def progress(phase: str, done: int, total: int | None) -> None:
                    if phase not in tasks:
                        label = "reading corpus (chars)" if phase == "corpus" else "scoring items"
                        tasks[phase] = bar.add_task(label, total=total)
                    bar.update(tasks[phase], completed=done)

                report = check_contamination(items, corpus, runtime, k=k, progress=progress)
    finally:
        if runtime is not None:
            runtime.close()
    out = report.as_dict()
    if artifact is not None:
        config = {"bench": str(bench), "train": str(train) if train else None, "model": artifact.ref, **where}
        with Ledger(s.db_url) as ledger:
            out["run_id"] = record_contamination(ledger, artifact, report, config)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        _print_contamination(report.rows(), out, show, bench, train)
    if report.overlaps is not None and report.counts()["contaminated"]:
        raise typer.Exit(1)


def _print_contamination(
    rows: list[dict[str, Any]], out: dict[str, Any], show: int, bench: Path, train: Path | None
) -> None:
    order = {"contaminated": 0, "partial": 1, "too short": 2, "clean": 3}
    rows = sorted(rows, key=lambda r: (order.get(r.get("verdict", "clean"), 4), -r.get("min_k_pp", 0.0)))
    table = Table(title=f"{bench.name}{' against ' + train.name if train else ''}")
    table.add_column("item")
    has_exact = out["counts"] is not None
    has_model = rows and "min_k_pp" in rows[0]
    if has_exact:
        table.add_column("verdict")
        table.add_column("13-gram", justify="right")
        table.add_column("50-char", justify="right")
    if has_model:
        table.add_column("Min-K%", justify="right")
        table.add_column("Min-K%++", justify="right")
    if has_exact:
        table.add_column("overlap")
    for r in rows[:show]:
        cells = [escape(str(r["id"]))]
        if has_exact:
            style = VERDICT_STYLE.get(r["verdict"], "white")
            cells += [f"[{style}]{r['verdict']}[/]", f"{r['word_coverage']:.0%}", f"{r['char_coverage']:.0%}"]
        if has_model:
            cells += [f"{r['min_k']:.2f}", f"{r['min_k_pp']:.2f}"]
        if has_exact:
            cells.append(escape(_snippet(r["spans"][0]["text"])) if r["spans"] else "")
        table.add_row(*cells)
    console.print(table)
    if has_exact:
        c = out["counts"]
        console.print(
            f"{c['contaminated']} contaminated · {c['partial']} partial · {c['clean']} clean · {c['too short']} too "
            f"short to test (fewer than {NGRAM} words and {CHARS} letters)",
            highlight=False,
        )
        for skipped in out["corpus"]["skipped"]:
            err_console.print(
                f"[yellow]skipped[/] {escape(skipped['file'])}: {escape(skipped['why'])}", highlight=False
            )
    if has_model:
        console.print(
            "Min-K% and Min-K%++: higher means more likely seen in training; compare items, not to a fixed bar"
        )
    if out.get("run_id"):
        console.print(f"ledger run {out['run_id']}", highlight=False)


def regurgitation(
    model: Annotated[str, typer.Argument(help="`default`, a .gguf file, a Hugging Face folder, or openai:URL#model.")],
    corpus: Annotated[
        Path, typer.Option("--corpus", help="A folder (or file) of documents to protect: .txt, .md, .jsonl.")
    ],
    prefix_tokens: Annotated[
        int, typer.Option("--prefix-tokens", min=1, help="Tokens of each document in the prompt.")
    ] = 50,
    new_tokens: Annotated[
        int, typer.Option("--new-tokens", min=1, help="Tokens the model writes after each prefix.")
    ] = 50,
    probes: Annotated[int, typer.Option("--probes", min=1, help="Prompts per document, at evenly spaced offsets.")] = 3,
    threshold: Annotated[
        int, typer.Option("--threshold", min=1, help="List documents with a verbatim overlap of this many characters.")
    ] = THRESHOLD_CHARS,
    max_documents: Annotated[
        int | None, typer.Option("--max-documents", min=1, help="Probe only the first N documents.", show_default=False)
    ] = None,
    backend: BackendOption = "auto",
    db: DbOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Prompt MODEL with prefixes of each document in --corpus and compare its greedy continuation with the original:
    longest verbatim overlap and word 5-gram overlap. Lists the documents over --threshold. Exit status 1 when one
    is listed; 2 on an error.
    """
    s = settings(db=db)
    docs = Corpus(corpus)
    artifact = resolve_model(model, s, quiet or as_json)
    runtime = open_runtime(artifact, backend, s)
    where = platform_info(threads=runtime.info.details.get("threads")).as_dict()
    kwargs: dict[str, Any] = {
        "prefix_tokens": prefix_tokens,
        "new_tokens": new_tokens,
        "probes": probes,
        "threshold_chars": threshold,
        "max_documents": max_documents,
    }
    bar = _bar(quiet or as_json)
    try:
        if bar is None:
            report = check_regurgitation(runtime, docs, **kwargs)
        else:
            with bar:
                task = bar.add_task("probing documents", total=max_documents)
                report = check_regurgitation(
                    runtime, docs, progress=lambda done, _name: bar.update(task, completed=done), **kwargs
                )
    finally:
        runtime.close()
    out = report.as_dict()
    with Ledger(s.db_url) as ledger:
        config = {"corpus": str(corpus), "model": artifact.ref, PLATFORM_KEY: where}
        out["run_id"] = record_regurgitation(ledger, artifact, report, config)
    flagged = report.flagged()
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        table = Table(title=f"regurgitation of {corpus.name} by {artifact.name}")
        for col in ("document", "tokens", "longest overlap", "5-gram overlap", "longest verbatim run"):
            table.add_column(col)
        for d in sorted(report.documents, key=lambda d: (-d.longest_chars, d.doc)):
            best = max(d.probes, key=lambda p: len(p.longest), default=None)
            style = "bold red" if d in flagged else ("dim" if not d.probes else "white")
            table.add_row(
                f"[{style}]{escape(d.doc)}[/]",
                str(d.tokens),
                f"{d.longest_chars} chars" if d.probes else escape(d.note),
                f"{d.ngram_overlap:.0%}" if d.probes else "",
                escape(_snippet(best.longest)) if best else "",
            )
        console.print(table)
        console.print(
            f"{len(flagged)} of {len(report.documents)} documents at or over {threshold} verbatim characters"
            + (": " + ", ".join(d.doc for d in flagged) if flagged else ""),
            highlight=False,
        )
        for skipped in out["corpus"]["skipped"] if out["corpus"] else []:
            err_console.print(
                f"[yellow]skipped[/] {escape(skipped['file'])}: {escape(skipped['why'])}", highlight=False
            )
        console.print(f"ledger run {out['run_id']}", highlight=False)
    if flagged:
        raise typer.Exit(1)
