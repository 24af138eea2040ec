"""Where the CLI writes, and how a table looks there: a terminal, a CI log, a pipe, a pull-request comment.

Every table is built once as a `Grid` of plain cells and then shown in the format asked for:

    grid = Grid("eval of default", ["task", "metric", "value"], right={"value"})
    grid.add("arithmetic", "acc", "0.450")
    show(grid, fmt)              # table (rich), md (a Markdown table) or json (a list of objects)

A console's width is read at each print: COLUMNS when set, the terminal's when writing to one, and otherwise no
limit, so that a CI log gets every cell whole on one line. When a table is wider than that, its columns of phrases
wrap between words while numbers and names keep their width; when even that cannot fit, it is shown one block per
row (`column  value` lines). No cell is ever cut, and no number or name is split across lines.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console, ConsoleDimensions, Group, RenderableType
from rich.table import Table
from rich.text import Text

PIPE_WIDTH = 4096  # no terminal and no COLUMNS: lines as long as their content
Cell = str | Text  # a str is shown literally (never read as markup); a Text carries its style


class Format(StrEnum):
    """How a command prints its result."""

    table = "table"
    md = "md"
    json = "json"


FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        help="table (the default), md (a Markdown table to paste into a pull request) or json (same as --json).",
        show_default=False,
    ),
]


def pick_format(fmt: Format | None, as_json: bool) -> Format:
    """--json is --format json; asking for both json and another format is a usage error."""
    if as_json and fmt not in (None, Format.json):
        raise typer.BadParameter(f"--json and --format {fmt.value} disagree: give one", param_hint="--format")
    return Format.json if as_json else (fmt or Format.table)


class AdaptiveConsole(Console):
    """A rich console whose width follows where it writes, decided at each print (tests swap sys.stdout)."""

    @property
    def size(self) -> ConsoleDimensions:
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return ConsoleDimensions(int(columns), 25)
        if self.is_terminal:
            return super().size
        return ConsoleDimensions(PIPE_WIDTH, 25)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = AdaptiveConsole()
err_console = AdaptiveConsole(stderr=True)


@dataclass
class Grid:
    """A table's title, column names and rows of cells, independent of how it is shown."""

    title: str
    columns: Sequence[str]
    right: Iterable[str] = ()  # columns aligned right (numbers)
    rows: list[list[Cell]] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)  # one style per row ("" for none)
    header: bool = True

    def add(self, *cells: Cell, style: str = "") -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))
        self.styles.append(style)

    def plain_rows(self) -> list[list[str]]:
        return [[c.plain if isinstance(c, Text) else c for c in row] for row in self.rows]

    def rich(self, terminal: bool = True, widths: Sequence[int] | None = None) -> Table:
        """A rich Table; away from a terminal a light box (one rule under the header) that copies cleanly.

        widths: each column's width (see fit); None lets rich size them.
        """
        right = set(self.right)
        table = Table(
            title=self.title or None,
            show_header=self.header,
            box=box.ROUNDED if terminal else box.SIMPLE_HEAD,
            title_justify="center" if terminal else "left",
        )
        for i, name in enumerate(self.columns):
            table.add_column(
                name, justify="right" if name in right else "left", overflow="fold", width=widths[i] if widths else None
            )
        for row, style in zip(self.rows, self.styles, strict=True):
            table.add_row(*(c if isinstance(c, Text) else Text(c) for c in row), style=style or None)
        return table

    def fit(self, width: int) -> list[int] | None:
        """Column widths that fit width with no word broken: every column at its widest when that fits, else the
        columns of phrases share what is left (never below their longest word); None when even that cannot fit."""
        cells = self.plain_rows()
        natural: list[int] = []
        least: list[int] = []
        for i, name in enumerate(self.columns):
            column = [row[i] for row in cells]
            heading = max((len(w) for w in name.split()), default=0)
            longest = max((len(c) for c in column), default=0)
            phrases = any(" " in c.strip() for c in column)
            word = max((len(w) for c in column for w in c.split()), default=0) if phrases else longest
            natural.append(max(longest, len(name)))
            least.append(max(heading, word, 1))
        room = width - (3 * len(self.columns) + 1)  # a padding blank each side of a cell, one rule between cells
        if sum(natural) <= room:
            return natural
        if sum(least) > room:
            return None
        spare, wants = room - sum(least), [n - m for n, m in zip(natural, least, strict=True)]
        return [m + w * spare // sum(wants) for m, w in zip(least, wants, strict=True)]

    def expanded(self) -> RenderableType:
        """One block per row, a `column  value` line per cell: for a width too narrow for the table's columns."""
        parts: list[RenderableType] = [Text(self.title, style="bold")] if self.title else []
        for n, (row, style) in enumerate(zip(self.rows, self.styles, strict=True), start=1):
            block = Table(show_header=False, box=None, pad_edge=False, title=f"-- {n} --", title_justify="left")
            block.add_column(no_wrap=True, style="bold")
            block.add_column(overflow="fold")
            for name, cell in zip(self.columns, row, strict=True):
                block.add_row(name, cell if isinstance(cell, Text) else Text(cell), style=style or None)
            parts.append(block)
        return Group(*parts)

    def fitted(self, width: int, terminal: bool) -> RenderableType:
        """The table when its columns fit width with no word broken (phrases wrap between words); else one block
        per row, so that no number or name is ever split or cut."""
        widths = self.fit(width) if self.header else None
        if widths is None:
            return self.expanded() if self.header else self.rich(terminal)
        table = self.rich(terminal, widths)
        fits = Console(width=PIPE_WIDTH, file=io.StringIO()).measure(table).maximum <= width
        return table if fits else self.expanded()

    def markdown(self) -> str:
        """A GitHub-flavoured Markdown table (pipes and newlines in cells escaped), under its title in bold."""
        right = set(self.right)

        def cell(text: str) -> str:
            return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>") or " "

        lines = [f"**{cell(self.title)}**", ""] if self.title else []
        lines.append("| " + " | ".join(cell(c) for c in self.columns) + " |")
        lines.append("|" + "|".join("---:" if c in right else "---" for c in self.columns) + "|")
        lines.extend("| " + " | ".join(cell(c) for c in row) + " |" for row in self.plain_rows())
        return "\n".join(lines)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.plain_rows()]


def show(grid: Grid, fmt: Format = Format.table) -> None:
    """Print one grid to stdout in the format asked for."""
    if fmt is Format.json:
        typer.echo(json.dumps({"title": grid.title, "rows": grid.records()}, ensure_ascii=False, indent=2))
    elif fmt is Format.md:
        typer.echo(grid.markdown() + "\n")
    else:
        emit(grid.fitted(console.width, console.is_terminal))


def emit(renderable: RenderableType) -> None:
    """Print to stdout; in a log or a pipe without the blanks rich pads lines with (and never colour codes)."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def styled(text: str, style: str) -> Text:
    return Text(text, style=style)
