"""`warden scan`: the guard on one text (argument, file or standard input) or on every line of a JSONL data set."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.markup import escape

from weightwarden.cli.common import JsonOption, QuietOption, console, err_console
from weightwarden.cli.output import Format, FormatOption, Grid, pick_format, show
from weightwarden.cli.progress import Reporter
from weightwarden.guard import Guard, ScanResult, load_policy
from weightwarden.guard.base import GuardError, Side
from weightwarden.guard.pipeline import explain

MAX_JSONL_LINE = 64 * 1024 * 1024  # a line longer than this is reported as an error, not read into memory whole


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise GuardError(f"cannot read {path}: {exc.strerror or exc}; check the path") from None


def _grid(result: ScanResult) -> Grid:
    title = f"guard ({result.side}, policy {result.policy}) · {result.chars:,} chars · {result.latency_ms:.1f} ms"
    columns = ("detector", "label", "score", "threshold", "action", "spans", "ms")
    grid = Grid(title, columns, right=("score", "threshold", "ms"))
    for v in result.verdicts:
        spans = "; ".join(f"{s.start}-{s.end} {s.kind}: {s.text[:40]!r}" for s in v.spans[:3])
        if len(v.spans) > 3:
            spans += f"; +{len(v.spans) - 3} more"
        style = "red" if v.action == "block" else "yellow" if v.triggered else ""
        grid.add(
            v.detector,
            v.label,
            f"{v.score:.3f}",
            f"{v.threshold:.2f}",
            v.action,
            spans,
            f"{v.latency_ms:.2f}",
            style=style,
        )
    return grid


def _jsonl_rows(fh: IO[bytes], field: str) -> Iterator[tuple[int, str | bytes | None, dict[str, Any], str | None]]:
    """(line number, text or None, passthrough fields, error) for each non-empty line; never raises on bad data."""
    for n, raw in enumerate(iter(lambda: fh.readline(MAX_JSONL_LINE + 1), b""), start=1):
        if len(raw) > MAX_JSONL_LINE:
            # skip the rest of an over-long line without holding it
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(MAX_JSONL_LINE)
            yield n, None, {}, f"line longer than {MAX_JSONL_LINE // (1024 * 1024)} MiB"
            continue
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8", errors="replace"))
        except RecursionError:
            yield n, None, {}, "JSON nested too deeply to parse"
            continue
        except ValueError as exc:
            yield n, None, {}, f"not valid JSON: {exc}"
            continue
        if not isinstance(obj, dict):
            yield n, None, {}, f"expected a JSON object with a {field!r} field, got {type(obj).__name__}"
            continue
        text = obj.get(field)
        if not isinstance(text, str):
            yield n, None, {}, f"field {field!r} is missing or not a string"
            continue
        keep = {k: obj[k] for k in ("id", "key") if k in obj and isinstance(obj[k], str | int | float)}
        yield n, text, keep, None


def _row(n: int, keep: dict[str, Any], result: ScanResult) -> dict[str, Any]:
    out: dict[str, Any] = {"line": n, **keep, "blocked": result.blocked, "labels": result.labels}
    out["scores"] = {k: round(v, 4) for k, v in result.scores.items()}
    out["actions"] = {v.detector: v.action for v in result.verdicts if v.triggered}
    if result.redacted_text is not None:
        out["redacted_text"] = result.redacted_text
    if result.warnings:
        out["warnings"] = result.warnings
    return out


_WORKER: dict[str, Any] = {}


def _init_worker(policy: Path | None, deep: bool) -> None:
    """Build one Guard per worker process (weights load once per process, not per batch)."""
    _WORKER["guard"] = _build_guard(policy, deep)


def _scan_in_worker(args: tuple[list[str | bytes], Side]) -> list[ScanResult]:
    texts, side = args
    guard: Guard = _WORKER["guard"]
    return guard.scan_batch(texts, side)


def _build_guard(policy: Path | None, deep: bool) -> Guard:
    pol = load_policy(policy)
    if deep and not pol.deep:
        from dataclasses import replace

        pol = replace(pol, deep=True)
    return Guard(pol)


def _scan_jsonl(
    guard: Guard,
    path: Path,
    field: str,
    side: Side,
    batch: int,
    out: IO[str],
    quiet: bool,
    workers: int = 1,
    worker_args: tuple[Path | None, bool] = (None, False),
) -> tuple[int, int, int]:
    """Scan every line, writing one JSON verdict per line; returns (lines, blocked, errors)."""
    lines = blocked = errors = 0
    pending: list[tuple[int, str | bytes, dict[str, Any]]] = []
    pool = None
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers, mp.get_context("spawn"), initializer=_init_worker, initargs=worker_args)

    def flush() -> None:
        nonlocal blocked
        texts = [t for _, t, _ in pending]
        if pool is None:
            results = guard.scan_batch(texts, side)
        else:  # split the batch across the workers; map keeps the order
            step = max(1, -(-len(texts) // workers))
            chunks = [(texts[i : i + step], side) for i in range(0, len(texts), step)]
            results = [r for part in pool.map(_scan_in_worker, chunks) for r in part]
        for (n, _, keep), r in zip(pending, results, strict=True):
            blocked += r.blocked
            out.write(json.dumps(_row(n, keep, r), ensure_ascii=False) + "\n")
        pending.clear()

    try:
        fh = path.open("rb")
    except OSError as exc:
        raise GuardError(f"cannot read {path}: {exc.strerror or exc}; check the path") from None
    size = path.stat().st_size if path.is_file() else None  # a pipe has no size: progress without an ETA
    with fh, Reporter(f"scanning {path.name}", quiet=quiet, in_bytes=True) as report:
        try:
            for n, text, keep, error in _jsonl_rows(fh, field):
                lines += 1
                if error is not None or text is None:
                    errors += 1
                    if pending:
                        flush()
                    out.write(json.dumps({"line": n, "error": error}) + "\n")
                    continue
                if len(text) > guard.policy.max_chars:  # one line too long is that line's error, not the run's
                    errors += 1
                    if pending:
                        flush()
                    msg = (
                        f"text of {len(text):,} characters exceeds the policy's max_chars ({guard.policy.max_chars:,})"
                    )
                    out.write(json.dumps({"line": n, "error": msg}) + "\n")
                    continue
                pending.append((n, text, keep))
                if len(pending) >= batch:
                    flush()
                    report.update(fh.tell(), size)
            if pending:
                flush()
        finally:
            if pool is not None:
                pool.shutdown()
    return lines, blocked, errors


def _names_a_file(text: str) -> bool:
    """Whether TEXT is one line naming an existing file: a user who meant --file would scan the name, not the file."""
    if not text or len(text) > 4096 or "\n" in text or "\x00" in text:
        return False
    try:
        return Path(text).expanduser().is_file()
    except OSError:  # a name too long for the file system, say
        return False


def scan(
    text: Annotated[
        str | None, typer.Argument(help="The text to scan; `-` reads it from standard input.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Scan the contents of FILE.", show_default=False)
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl",
            help="Scan every line of FILE (JSON objects with a `text` field); prints one JSON verdict per line.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        bool, typer.Option("--output", help="Scan as a model's answer: leakage, PII, secrets, toxicity.")
    ] = False,
    canary: Annotated[
        list[str] | None,
        typer.Option(
            "--canary", help="A canary planted in the system prompt (repeatable; with --output).", show_default=False
        ),
    ] = None,
    system_prompt: Annotated[
        Path | None,
        typer.Option(
            "--system-prompt",
            help="File holding the system prompt, to catch it leaking (with --output).",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="A guard policy YAML file (default: the bundled policy).", show_default=False),
    ] = None,
    field: Annotated[str, typer.Option("--field", help="The JSON field holding the text, with --jsonl.")] = "text",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Texts scanned per batch with --jsonl.")
    ] = 256,
    deep: Annotated[bool, typer.Option("--deep", help="Also run the MiniLM embedding layer (slower).")] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Processes scanning --jsonl batches in parallel.")
    ] = 1,
    explain_: Annotated[
        bool,
        typer.Option(
            "--explain", help="Say which layer (gate, encoder, patterns...) and which span decided each verdict."
        ),
    ] = False,
    redacted: Annotated[
        bool, typer.Option("--redacted", help="Print only the text with PII and secrets redacted.")
    ] = False,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Scan TEXT (or --file F, or `-` for standard input) for injection, jailbreaks, harmful intent, PII and secrets.

    Exit code 1 when the policy blocks (with --jsonl: when any line is blocked), 2 on an error.
    """
    fmt_ = pick_format(fmt, as_json)
    as_json = fmt_ is Format.json
    sources = sum(x is not None for x in (text, file, jsonl))
    if sources != 1:
        raise typer.BadParameter("give exactly one of TEXT, `-` (standard input), --file FILE or --jsonl FILE")
    guard = _build_guard(policy, deep)
    side: Side = "output" if output else "input"
    if jsonl is not None:
        lines, blocked, errors = _scan_jsonl(
            guard, jsonl, field, side, batch_size, sys.stdout, quiet, workers, (policy, deep)
        )
        if not quiet:
            err_console.print(f"{lines:,} lines · {blocked:,} blocked · {errors:,} errors")
        if errors:
            raise typer.Exit(2)
        raise typer.Exit(1 if blocked else 0)
    data: str | bytes
    if file is not None:
        data = _read_bytes(file)
    elif text == "-":
        data = sys.stdin.buffer.read()
    else:
        assert text is not None
        data = text
        if not quiet and _names_a_file(text):
            err_console.print(
                f"[yellow]note:[/] scanning the text {escape(repr(text))} itself; to scan that file's contents, "
                f"use --file {escape(text)}"
            )
    prompt = system_prompt.read_text(encoding="utf-8", errors="replace") if system_prompt else ""
    result = guard.scan_output(data, canaries=canary or (), system_prompt=prompt) if output else guard.scan_input(data)
    if redacted:
        typer.echo(result.redacted_text if result.redacted_text is not None else _as_text(data))
    elif as_json:
        data_out = result.as_dict()
        if explain_:
            data_out["explain"] = explain(result)
        typer.echo(json.dumps(data_out, ensure_ascii=False))
    else:
        show(_grid(result), fmt_)
        for w in result.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(w)}")
        word = "BLOCKED" if result.blocked else ("flagged" if result.labels else "allowed")
        labels = ", ".join(result.labels) or "none"
        if fmt_ is Format.md:
            console.print(f"**{word}** · labels: {labels}", highlight=False, markup=False)
        else:
            style = "red" if result.blocked else ("yellow" if result.labels else "green")
            console.print(f"[{style}]{word}[/] · labels: {escape(labels)}")
        if result.redacted_text is not None and not quiet:
            console.print("redacted:", result.redacted_text, highlight=False, markup=False)
        if explain_:
            for e in explain(result):
                where = f" span {e['span']['start']}-{e['span']['end']} {e['span']['text'][:80]!r}" if e["span"] else ""
                console.print(f"{e['detector']}: {e['why']}{where}", highlight=False, markup=False)
    raise typer.Exit(1 if result.blocked else 0)


def _as_text(data: str | bytes) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")
