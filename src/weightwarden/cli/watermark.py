"""`warden watermark detect` (is this text watermarked with our key?) and `warden watermark keygen` (make a key)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from weightwarden.cli.common import JsonOption, QuietOption, console, err_console, resolve_model, settings
from weightwarden.runtimes.tokenizer import load_tokenizer
from weightwarden.watermark import detect_text, load_watermark_config, write_key_file
from weightwarden.watermark.base import KEY_FILE_NAME, WatermarkError
from weightwarden.watermark.detect import check_fpr

app = typer.Typer(
    name="watermark",
    help="Check text for weightwarden's generation-time watermark, and make watermark keys.",
    no_args_is_help=True,
)

VERDICT_STYLE = {"watermarked": "bold green", "not detected": "yellow", "too short": "dim"}


def _read_text(text: str | None, file: Path | None) -> str:
    if file is not None and text is not None:
        raise WatermarkError("give the text or --file, not both")
    if file is not None:
        try:
            return file.expanduser().read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise WatermarkError(f"cannot read {file}: {exc.strerror}") from None
    if text is None:
        raise WatermarkError("no text: pass it as an argument, --file FILE, or - to read standard input")
    return sys.stdin.read() if text == "-" else text


@app.command("detect")
def detect(
    text: Annotated[
        str | None, typer.Argument(help="The text to check; `-` reads standard input.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the text from this file.", show_default=False)
    ] = None,
    tokenizer: Annotated[
        str, typer.Option("--tokenizer", help="The model that wrote the text (only its tokenizer is read).")
    ] = "default",
    fpr: Annotated[
        float | None,
        typer.Option(
            "--fpr",
            help="False-positive rate of the verdict (default: setting watermark_fpr, 0.001).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Re-tokenize TEXT and test it for the watermark made with the configured key: z-score, exact p-value, verdict.

    Needs the key (WARDEN_WATERMARK_KEY, watermark_key_file, or HOME/watermark.key) and the generating model's
    tokenizer, not its weights. A repeated (previous token, token) pair counts once. Exit status 0 whatever the
    verdict; 2 on an error.
    """
    s = settings()
    body = _read_text(text, file)
    config = load_watermark_config(s)
    rate = check_fpr(fpr if fpr is not None else s.watermark_fpr)
    tok = load_tokenizer(resolve_model(tokenizer, s, quiet or as_json))
    try:
        found = detect_text(body, tok, config, rate)
    finally:
        tok.close()
    if as_json:
        typer.echo(json.dumps(found.as_dict()))
        return
    style = VERDICT_STYLE[found.verdict]
    console.print(
        f"[{style}]{found.verdict}[/]  p = {found.p_value:.3g} (verdict at a false-positive rate of {rate:g})"
    )
    console.print(
        f"z = {found.z:.2f} · {found.green} of {found.scored} scored tokens green (expected {found.gamma:.0%} by "
        f"chance) · {found.tokens} tokens, {found.repeated} repeated pairs counted once · key {found.key_fingerprint}",
        highlight=False,
    )
    for note in found.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


@app.command("keygen")
def keygen(
    out: Annotated[
        Path | None,
        typer.Option("--out", help=f"Where to write the key (default HOME/{KEY_FILE_NAME}).", show_default=False),
    ] = None,
) -> None:
    """Write a new random watermark key (readable by you only) and print its fingerprint, never the key."""
    s = settings()
    path = out or s.home / KEY_FILE_NAME
    fp = write_key_file(path)
    console.print(f"wrote a new watermark key to {path} (fingerprint {fp})", highlight=False)
    if out is not None:
        console.print(f"use it with: export WARDEN_WATERMARK_KEY_FILE={path}", highlight=False)
