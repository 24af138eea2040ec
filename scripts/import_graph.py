"""Print the import graph between weightwarden's packages, check it against DESIGN.md's one-way order, and print
module sizes (the median, and every module over 600 lines).

    python scripts/import_graph.py          # the graph, the violations, the sizes
    python scripts/import_graph.py --json   # the same as one JSON object (tests/test_import_graph.py reads it)

Reads the source with `ast` only (nothing is imported), so it runs without the project's dependencies. Every import
counts, including those inside functions: a lazy import is still a dependency. The exit status is 0 either way;
the test decides which violations are known.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "weightwarden"
# DESIGN.md, "Layout": imports point one way, from a later layer to an earlier one; packages of one layer do not
# import each other. `formulas` (shared maths and hashing, see weightwarden/formulas/__init__.py) sits with config.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),  # DESIGN lists it with config; it is the root every package imports, config included
    ("config", "formulas"),
    ("ledger", "runtimes"),
    ("inspect", "eval", "guard", "watermark", "provenance", "monitor"),
    # tune composes stages (the guard screens its data, eval proves the result), as audit does; doctor checks the
    # installation (runtimes, ledger, config); only the CLI calls either. bench composes eval (paired quality) and
    # monitor (its prompts come from the simulated traffic) with runtimes; report renders its runs from the ledger
    ("audit", "tune", "doctor", "bench"),
    ("gateway", "report"),
    # the dashboard signs in with the gateway's keys and chats through its pipeline; it renders runs with report/
    ("ui",),
    ("cli",),
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
TOO_LONG = 600


def package_of(module: Path) -> str:
    """The top-level part of weightwarden a source file belongs to ("eval" for eval/runner.py, "errors")."""
    rel = module.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _dotted(module: Path) -> list[str]:
    rel = module.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_part(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def imported_packages(module: Path) -> set[str]:
    """The weightwarden packages module imports (absolute and relative imports, at any depth in the file)."""
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    here = _dotted(module)
    is_package = module.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                # `from . import x` in weightwarden/__init__.py names a subpackage
                if len(target) == 1 and not node.module:
                    target += [node.names[0].name]
                names = [".".join(target)]
            elif node.module:
                names = [node.module]
                if node.module == "weightwarden":
                    names = [f"weightwarden.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            # `from weightwarden import __version__` names the root package, not one of its parts
            if parts[0] == "weightwarden" and len(parts) > 1 and _is_part(parts[1]):
                found.add(parts[1])
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """Package -> the other packages it imports; and (package, imported) -> the modules that import it."""
    edges: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module in modules():
        pkg = package_of(module)
        if pkg == "__init__":
            continue  # the root package's own __init__ (the version) imports nothing of the stages
        for dst in sorted(imported_packages(module) - {pkg}):
            edges[pkg].add(dst)
            where[pkg, dst].append(str(module.relative_to(PACKAGE)))
    return dict(edges), dict(where)


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Each import against the order, as "a -> b (why)": upward, sideways within a layer, or a package not placed."""
    out: list[str] = []
    for src in sorted(edges):
        if src not in LAYER:
            out.append(f"{src} (not placed in DESIGN.md's order)")
            continue
        for dst in sorted(edges[src]):
            if dst not in LAYER:
                continue  # reported once as its own line
            if LAYER[dst] > LAYER[src]:
                out.append(f"{src} -> {dst} (upward)")
            elif LAYER[dst] == LAYER[src]:
                out.append(f"{src} -> {dst} (sideways, same layer)")
    return out


def _edge(violation: str) -> tuple[str, str]:
    src, _, rest = violation.partition(" -> ")
    return src, rest.split(" ", 1)[0]


def sizes() -> dict[str, int]:
    """Lines per module, by path under src/."""
    return {str(m.relative_to(PACKAGE.parent)): len(m.read_text(encoding="utf-8").splitlines()) for m in modules()}


def report() -> dict[str, Any]:
    edges, where = graph()
    lines = sizes()
    found = violations(edges)
    return {
        "graph": {pkg: sorted(deps) for pkg, deps in sorted(edges.items())},
        "violations": found,
        "violated_in": {v: where.get(_edge(v), []) for v in found},
        "modules": len(lines),
        "median_lines": statistics.median(lines.values()),
        "over_600": {path: n for path, n in sorted(lines.items(), key=lambda kv: -kv[1]) if n > TOO_LONG},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    r = report()
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print("layers, lowest first: " + " <- ".join(", ".join(names) for names in LAYERS))
    print("\nimports between packages:")
    for pkg, deps in r["graph"].items():
        layer = LAYER.get(pkg)
        print(f"  {pkg:<11} [{'?' if layer is None else layer}] -> {', '.join(deps) or '(nothing)'}")
    print(f"\nviolations of the order: {len(r['violations'])}")
    for v in r["violations"]:
        print(f"  {v}" + (f": {', '.join(r['violated_in'][v])}" if r["violated_in"][v] else ""))
    print(f"\n{r['modules']} modules, median {r['median_lines']} lines; over {TOO_LONG} lines: {len(r['over_600'])}")
    for path, n in r["over_600"].items():
        print(f"  {n:5d}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
