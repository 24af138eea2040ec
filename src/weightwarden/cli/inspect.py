"""`warden inspect` (what a model is, whether loading it is safe, what its license allows), `warden bom` (a CycloneDX
ML-BOM), `warden sign` and `warden verify` (a model-signing signature over the model files and the BOM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from weightwarden.cli.common import (
    HASH_QUIET_SECONDS,
    DbOption,
    JsonOption,
    QuietOption,
    console,
    err_console,
    settings,
)
from weightwarden.cli.output import Grid, emit, show
from weightwarden.cli.progress import Reporter
from weightwarden.config import Settings
from weightwarden.inspect import Inspection, Severity, UsePlan, inspect_model, record_inspection
from weightwarden.inspect.licenses import USES
from weightwarden.ledger import Ledger
from weightwarden.runtimes.artifact import DEFAULT_REF, HashCache, default_model_path

ModelArg = Annotated[
    str,
    typer.Argument(help="`default`, a model file (.gguf, .safetensors, .bin/.pt/.pth, .onnx, .pkl) or a model folder."),
]
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
VERDICT_STYLE = {"allowed": "green", "allowed-with-obligations": "yellow", "not-allowed": "bold red"}

INSPECT_HELP = (
    "What MODEL is, whether loading it is safe, and what its license allows, without running it.\n\n"
    "Format, architecture, parameters, quantization, hash, license and what it allows, lineage, and unsafe content "
    "(pickle imports, chat-template injection, broken structure). A file that is no model format is reported as "
    "such (exit 2).\n\n"
    "Nothing is unpickled, imported or executed; chat templates render only in a sandbox. The result is stored in "
    "the ledger against the model's sha256.\n\n"
    "Exit status: 0 when no finding is critical; 1 when one is (loading the file can run code, or its chat template "
    "tries to escape the sandbox); 2 on an error (no such file, not a model file)."
)


def run_inspection(model: str, s: Settings, quiet: bool, plan: UsePlan | None = None) -> Inspection:
    """Inspect with the user's hash cache and, unless quiet, a hashing progress bar on stderr."""
    cache = HashCache(s.home / "hash-cache.json")
    with Reporter("hashing", quiet=quiet, in_bytes=True, after=HASH_QUIET_SECONDS) as bar:
        return inspect_model(model, cache=cache, progress=lambda done, total: bar.update(done, total), plan=plan)


def _model_path(model: str) -> Path:
    return default_model_path() if model.strip() == DEFAULT_REF else Path(model).expanduser()


def _facts(ins: Inspection) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    quant = ", ".join(f"{k} {v}" if k != "method" else f"method {v}" for k, v in ins.quantization.items())
    templates = ins.chat_template.get("templates", [])
    rows = [
        ("format", ins.format),
        ("sha256", ins.sha256),
        ("size", f"{ins.size_bytes / 1e6:,.1f} MB in {len(ins.files)} file{'s' * (len(ins.files) != 1)}"),
        ("architecture", ins.architecture or "not stated"),
        ("parameters", f"{ins.parameters:,}" if ins.parameters is not None else "unknown"),
        ("quantization", quant or "none found"),
        ("context length", str(ins.context_length) if ins.context_length else "not stated"),
        ("chat template", ", ".join(f"{t['name']} ({t['chars']} chars, {t['file']})" for t in templates) or "none"),
    ]
    for name, value in rows:
        table.add_row(name, escape(value))
    return table


def _print_license(ins: Inspection) -> None:
    lic = ins.license
    console.print(f"\n[bold]License[/]: {escape(lic['name'])} ({', '.join(lic['ids'])})")
    for src in lic["sources"]:
        console.print(f"  {escape(src['where'])}: {escape(src['value'])} → {src['id']}")
    if ins.use:
        u = ins.use
        plan = f"{u['use']}, {u['users']:,} monthly users" + (", distributed" if u["distribute"] else "")
        plan += ", modified" if u["modify"] else ""
        console.print(f"  [bold]verdict[/] for {plan}: [{VERDICT_STYLE[u['verdict']]}]{u['verdict']}[/]")
        for d in u["decisive"]:
            console.print(f"    • {escape(d['license'])} {escape(d['clause'])}: {escape(d['summary'])}")
        for n in u["notes"]:
            console.print(f"    [dim]note: {escape(n['license'])} {escape(n['clause'])}: {escape(n['summary'])}[/]")


def _print_lineage(ins: Inspection) -> None:
    lin = ins.lineage
    console.print("\n[bold]Lineage[/]")
    datasets = lin.get("datasets", [])
    shown = ", ".join(datasets[:5]) + (f" and {len(datasets) - 5} more" if len(datasets) > 5 else "")
    for label, value in (
        ("base models", ", ".join(lin.get("base_models", []))),
        ("datasets", shown),
        ("quantized by", lin.get("quantized_by")),
        ("source", lin.get("source_url")),
    ):
        console.print(f"  {label}: {escape(str(value)) if value else '[dim]not declared[/]'}")


def _print_findings(ins: Inspection) -> None:
    findings = ins.as_json()["findings"]
    if not findings:
        console.print("\n[green]No findings.[/]")
        return
    console.print(f"\n[bold]Findings[/] ({', '.join(f'{n} {k}' for k, n in ins.counts().items() if n)})")
    for f in findings:
        sev = f["severity"]
        where = f" [dim]({escape(f['file'])})[/]" if f.get("file") else ""
        console.print(f"  [{SEVERITY_STYLE[sev]}]{sev:<8}[/] {f['kind']}: {escape(f['detail'])}{where}")


def print_inspection(ins: Inspection, show_tensors: bool = False) -> None:
    """The terminal summary: facts, license and verdict, lineage, (tensors,) findings worst first."""
    console.print(f"[bold]{escape(ins.name)}[/] [dim]{escape(ins.path)}[/]")
    emit(_facts(ins))
    _print_license(ins)
    _print_lineage(ins)
    if show_tensors:
        for f in ins.files:
            tensors = f.details.get("tensors") or []
            if tensors:
                grid = Grid(f"Tensors of {f.path}", ("name", "dtype", "shape"))
                for t in tensors:
                    grid.add(t["name"], t["dtype"], str(t["shape"]))
                show(grid)
    _print_findings(ins)


def inspect(
    model: ModelArg,
    use: Annotated[
        str | None,
        typer.Option(
            "--use",
            help=f"What you plan: {', '.join(USES)}; gives an allowed / with obligations / not allowed verdict.",
            show_default=False,
        ),
    ] = None,
    users: Annotated[
        int, typer.Option("--users", min=0, help="Monthly active users of your product (license user caps).")
    ] = 0,
    distribute: Annotated[
        bool,
        typer.Option("--distribute", help="You give the weights, or a product or service built on them, to others."),
    ] = False,
    modify: Annotated[
        bool, typer.Option("--modify", help="You fine-tune, merge or distil it into a model of your own.")
    ] = False,
    tensors: Annotated[
        bool, typer.Option("--tensors", help="Also print every tensor's name, dtype and shape.")
    ] = False,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not store the inspection in the ledger.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    if use is None and (users or distribute or modify):
        raise typer.BadParameter(
            "--users, --distribute and --modify describe a planned use: add --use", param_hint="--use"
        )
    if use is not None and use not in USES:
        raise typer.BadParameter(f"unknown use {use!r}: choose {', '.join(USES)}", param_hint="--use")
    plan = UsePlan(use, users, distribute, modify) if use else None  # type: ignore[arg-type]
    s = settings(db=db)
    ins = run_inspection(model, s, quiet or as_json, plan)
    run_id = None
    if not no_ledger:
        with Ledger(s.db_url) as ledger:
            run_id = record_inspection(
                ledger, ins, {"use": ins.use and {k: ins.use[k] for k in ("use", "users", "distribute", "modify")}}
            )
    if as_json:
        out = ins.as_json()
        out["run_id"] = run_id
        typer.echo(json.dumps(out, ensure_ascii=False, default=str))
    else:
        print_inspection(ins, tensors)
        if run_id and not quiet:
            console.print(f"[dim]stored as ledger run {run_id} in {s.db_url}[/]")
    if ins.worst is Severity.CRITICAL:
        if not as_json:
            err_console.print(
                "[bold red]critical finding:[/] do not load this model until you have read the findings above"
            )
        raise typer.Exit(1)


inspect.__doc__ = INSPECT_HELP


def bom(
    model: ModelArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write the BOM (default ./NAME.cdx.json).", show_default=False),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Write a CycloneDX 1.6 ML-BOM of MODEL (hashes, license, lineage, findings), checked against the schema."""
    from weightwarden.inspect.bom import write_bom

    s = settings()
    ins = run_inspection(model, s, quiet)
    target = out or Path.cwd() / f"{_model_path(model).name}.cdx.json"
    write_bom(ins, target)
    if not quiet:
        console.print(f"wrote {target} (CycloneDX 1.6, {ins.name}, sha256 {ins.short_hash})")


def _default_bom(model: str) -> Path:
    return Path.cwd() / f"{_model_path(model).name}.cdx.json"


def _default_signature(model: str) -> Path:
    return Path.cwd() / f"{_model_path(model).name}.sig"


def sign(
    model: ModelArg,
    key: Annotated[
        Path, typer.Option("--key", help="PEM elliptic-curve private key (e.g. from `openssl ecparam -genkey`).")
    ],
    bom_path: Annotated[
        Path | None,
        typer.Option(
            "--bom",
            help="The BOM to sign with it (default ./NAME.cdx.json; written first if missing).",
            show_default=False,
        ),
    ] = None,
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature", "-o", help="Where to write the signature (default ./NAME.sig).", show_default=False
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password", envvar="WARDEN_KEY_PASSWORD", help="The key's password, if it has one.", show_default=False
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Sign MODEL's files and its BOM with a local key (OpenSSF model-signing, offline: no transparency log)."""
    from weightwarden.inspect import signing
    from weightwarden.inspect.bom import write_bom

    s = settings()
    ins = run_inspection(model, s, quiet)
    bom_file = bom_path or _default_bom(model)
    if not bom_file.exists():
        write_bom(ins, bom_file)
    sig = signature or _default_signature(model)
    signed = signing.sign(_model_path(model), key, bom_file, sig, ins.sha256, password)
    if not quiet:
        console.print(f"signed {len(signed.files) - 1} model file(s) and {bom_file} → {sig}")


def verify(
    model: ModelArg,
    pub: Annotated[Path, typer.Option("--pub", help="PEM public key that matches the signing key.")],
    bom_path: Annotated[
        Path | None, typer.Option("--bom", help="The signed BOM (default ./NAME.cdx.json).", show_default=False)
    ] = None,
    signature: Annotated[
        Path | None, typer.Option("--signature", help="The signature (default ./NAME.sig).", show_default=False)
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Check that MODEL's files and its BOM are byte for byte what was signed. Exit 1 if not, 2 on an error."""
    from weightwarden.inspect import signing

    signed = signing.verify(
        _model_path(model), pub, bom_path or _default_bom(model), signature or _default_signature(model)
    )
    if not quiet:
        console.print(f"[green]verified[/]: {len(signed.files) - 1} model file(s) and the BOM match {signed.signature}")
