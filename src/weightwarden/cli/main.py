"""The `warden` command: a thin shell over the stages; every WardenError becomes one line and exit code 2."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from weightwarden import __version__
from weightwarden.cli import audit, compare, evaluate, generate, keys, models, provenance, scan, serve, watermark
from weightwarden.cli import inspect as inspect_cmd
from weightwarden.cli.common import err_console
from weightwarden.errors import WardenError

app = typer.Typer(
    name="warden",
    help="From an open-weights model file to a guarded, monitored deployment, with evidence for every step.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"weightwarden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """weightwarden: inspect, evaluate, guard and serve open-weights models, with one ledger of evidence."""


app.command(name="models")(models.models)
app.command(name="generate")(generate.generate)
app.command(name="chat")(generate.chat)
app.command(name="eval")(evaluate.evaluate)
app.command(name="audit")(audit.audit)
app.command(name="compare")(compare.compare)
app.command(name="inspect")(inspect_cmd.inspect)
app.command(name="bom")(inspect_cmd.bom)
app.command(name="sign")(inspect_cmd.sign)
app.command(name="verify")(inspect_cmd.verify)
app.command(name="serve")(serve.serve)
app.command(name="logs")(serve.logs)
app.add_typer(keys.app, name="keys")
app.command(name="scan")(scan.scan)
app.add_typer(watermark.app, name="watermark")
app.command(name="contamination")(provenance.contamination)
app.command(name="regurgitation")(provenance.regurgitation)


def main() -> None:
    try:
        app()
    except WardenError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
