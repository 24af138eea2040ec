"""`warden contamination` (is a benchmark in the training data?) and `warden regurgitation` (does the model recite
documents it should not?)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

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
from weightwarden.cli.output import Cell, Grid, styled
from weightwarden.cli.output import show as show_grid
from weightwarden.cli.progress import Reporter
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
    """Look for benchmark items in a training corpus (13-word and 50-character overlaps), optionally with Min-K%.

    The corpus is streamed, so a multi-GB corpus runs in bounded memory. Each item is contaminated (half or more
    of the item overlaps), partial, or clean, with the overlapping spans. With --model, Min-K% and Min-K%++
    membership scores are added as supporting evidence, and the run is recorded in the ledger. Exit status 1 when
    an item is contaminated; 2 on an error.
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
    try:
        with Reporter("contamination", quiet=quiet or as_json) as bar:

            def progress(phase: str, done: int, total: int | None) -> None:
                bar.update(done, total, stage="reading corpus (chars)" if phase == "corpus" else "scoring items")

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
    has_exact = out["counts"] is not None
    has_model = bool(rows) and "min_k_pp" in rows[0]
    columns = ["item"]
    columns += ["verdict", "13-gram", "50-char"] if has_exact else []
    columns += ["Min-K%", "Min-K%++"] if has_model else []
    columns += ["overlap"] if has_exact else []
    right = ("13-gram", "50-char", "Min-K%", "Min-K%++")
    grid = Grid(f"{bench.name}{' against ' + train.name if train else ''}", columns, right=right)
    for r in rows[:show]:
        cells: list[Cell] = [str(r["id"])]
        if has_exact:
            style = VERDICT_STYLE.get(r["verdict"], "")
            cells += [styled(r["verdict"], style), f"{r['word_coverage']:.0%}", f"{r['char_coverage']:.0%}"]
        if has_model:
            cells += [f"{r['min_k']:.2f}", f"{r['min_k_pp']:.2f}"]
        if has_exact:
            cells.append(_snippet(r["spans"][0]["text"]) if r["spans"] else "")
        grid.add(*cells)
    show_grid(grid)
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
    """Does MODEL recite the documents in --corpus? Prompts with their prefixes and compares what it writes.

    Each document's greedy continuation is compared with the original: longest verbatim overlap and word 5-gram
    overlap. Lists the documents over --threshold. Exit status 1 when one
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
    try:
        with Reporter("regurgitation", quiet=quiet or as_json) as bar:
            report = check_regurgitation(
                runtime,
                docs,
                progress=lambda done, _name: bar.update(done, max_documents, stage="probing documents"),
                **kwargs,
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
        columns = ("document", "tokens", "longest overlap", "5-gram overlap", "longest verbatim run")
        grid = Grid(f"regurgitation of {corpus.name} by {artifact.name}", columns, right=columns[1:4])
        for d in sorted(report.documents, key=lambda d: (-d.longest_chars, d.doc)):
            best = max(d.probes, key=lambda p: len(p.longest), default=None)
            style = "bold red" if d in flagged else ("dim" if not d.probes else "")
            grid.add(
                styled(d.doc, style),
                str(d.tokens),
                f"{d.longest_chars} chars" if d.probes else d.note,
                f"{d.ngram_overlap:.0%}" if d.probes else "",
                _snippet(best.longest) if best else "",
            )
        show_grid(grid)
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
