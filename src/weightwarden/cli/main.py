"""The `warden` command: a thin shell over the stages; every WardenError becomes one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markup import escape

from weightwarden import __version__
from weightwarden.cli import (
    audit,
    compare,
    doctor,
    evaluate,
    generate,
    keys,
    models,
    monitor,
    provenance,
    report,
    scan,
    serve,
    tune,
    ui,
    watermark,
)
from weightwarden.cli import inspect as inspect_cmd
from weightwarden.cli.examples import EXAMPLES, epilog
from weightwarden.cli.output import err_console
from weightwarden.errors import WardenError

EXIT_CODES = (
    "Exit status, every command: 0 ok · 1 a failed gate, a block or a critical finding · "
    "2 an error (bad input, a missing file, not a model file)."
)

app = typer.Typer(
    name="warden",
    help="From an open-weights model file to a guarded, monitored deployment, with evidence for every step.\n\n"
    + EXIT_CODES,
    epilog=epilog("warden"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
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


COMMANDS: dict[str, Callable[..., Any]] = {
    "doctor": doctor.doctor,
    "models": models.models,
    "generate": generate.generate,
    "chat": generate.chat,
    "eval": evaluate.evaluate,
    "audit": audit.audit,
    "report": report.report,
    "compare": compare.compare,
    "inspect": inspect_cmd.inspect,
    "bom": inspect_cmd.bom,
    "sign": inspect_cmd.sign,
    "verify": inspect_cmd.verify,
    "serve": serve.serve,
    "ui": ui.ui,
    "logs": serve.logs,
    "scan": scan.scan,
    "contamination": provenance.contamination,
    "regurgitation": provenance.regurgitation,
    "tune": tune.tune,
}
for _name, _fn in COMMANDS.items():
    app.command(name=_name, epilog=epilog(_name))(_fn)
for _group in (keys.app, watermark.app, monitor.app):
    for _cmd in _group.registered_commands:
        _full = f"{_group.info.name} {_cmd.name}"
        _cmd.epilog = _cmd.epilog or (epilog(_full) if _full in EXAMPLES else None)
    app.add_typer(_group, epilog=epilog(str(_group.info.name)))


def main() -> None:
    try:
        app(prog_name="warden")
    except WardenError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
