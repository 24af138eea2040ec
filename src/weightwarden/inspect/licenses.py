"""Which license a model carries (from GGUF keys, the model card, LICENSE texts and package metadata), and what it
allows for a planned use, decided from the curated table in licenses.yaml with the clause behind every answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

from weightwarden.inspect.base import Finding, InspectionError, Severity

Use = Literal["commercial", "noncommercial", "research", "personal"]
USES: tuple[Use, ...] = ("commercial", "noncommercial", "research", "personal")
Verdict = Literal["allowed", "allowed-with-obligations", "not-allowed"]

# Where a declaration came from, most authoritative first: the model's own metadata outranks a packager's.
SOURCE_RANK = {"gguf": 0, "model-card": 1, "license-file": 2, "package": 3}


@dataclass(frozen=True)
class Term:
    effect: str  # grant, oblige, deny, note
    when: dict[str, Any]
    clause: str
    summary: str

    def applies(self, use: Use, users: int, distribute: bool, modify: bool) -> bool:
        w = self.when
        if "use" in w and use not in w["use"]:
            return False
        if "users_over" in w and users <= int(w["users_over"]):
            return False
        if w.get("distribute") and not distribute:
            return False
        return not (w.get("modify") and not modify)

    def as_dict(self) -> dict[str, Any]:
        return {"effect": self.effect, "when": self.when, "clause": self.clause, "summary": self.summary}


@dataclass(frozen=True)
class License:
    id: str
    name: str
    spdx: str | None
    url: str | None
    aliases: tuple[str, ...]
    markers: tuple[str, ...]
    excludes: tuple[str, ...]
    terms: tuple[Term, ...]


def normalise(text: str) -> str:
    """Lowercase words and numbers only, so "Apache License, Version 2.0" and "apache license version 2.0" match."""
    text = text.lower().replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9.]+", " ", text)).strip(" .")


def _key(value: str) -> str:
    """A license name squeezed for alias lookup: "Llama-3.1" and "llama 3.1" give the same key."""
    return re.sub(r"[\s_\-]+", "", value.strip().lower())


@lru_cache(maxsize=1)
def table() -> dict[str, License]:
    """The curated table, loaded once from licenses.yaml beside this module."""
    try:
        raw = yaml.safe_load(resources.files("weightwarden.inspect").joinpath("licenses.yaml").read_text())
    except (OSError, yaml.YAMLError) as exc:  # a packaging fault, not the user's
        raise InspectionError(
            f"the license table licenses.yaml cannot be read ({exc}): reinstall weightwarden"
        ) from None
    out: dict[str, License] = {}
    for row in raw["licenses"]:
        out[row["id"]] = License(
            id=row["id"],
            name=row["name"],
            spdx=row.get("spdx"),
            url=row.get("url"),
            aliases=tuple(row.get("aliases") or ()),
            markers=tuple(normalise(m) for m in row.get("markers") or ()),
            excludes=tuple(normalise(m) for m in row.get("excludes") or ()),
            terms=tuple(Term(t["effect"], dict(t.get("when") or {}), t["clause"], t["summary"]) for t in row["terms"]),
        )
    return out


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for lic in table().values():
        for name in (lic.id, lic.name, lic.spdx or "", *lic.aliases):
            if name:
                out[_key(name)] = lic.id
    return out


def identify(value: str | None) -> str | None:
    """The table id for a declared license name or SPDX id, or None when the table does not know it."""
    if not value or not value.strip():
        return None
    found = _aliases().get(_key(value))
    if found:
        return found
    spdx = re.search(r"SPDX-License-Identifier:\s*([\w.\-+]+)", value)
    if spdx:
        return _aliases().get(_key(spdx.group(1)))
    return None


def identify_text(text: str) -> str | None:
    """The table id whose marker phrases all occur in a license text (the most specific wins), or None."""
    norm = normalise(text[:200_000])
    best: tuple[int, str] | None = None
    for lic in table().values():
        if not lic.markers or not all(m in norm for m in lic.markers):
            continue
        if any(x in norm for x in lic.excludes):
            continue
        score = sum(len(m) for m in lic.markers)
        if best is None or score > best[0]:
            best = (score, lic.id)
    if best:
        return best[1]
    return identify(text) if "SPDX-License-Identifier" in text else None


@dataclass(frozen=True)
class Declaration:
    """One place that states a license: where (source, e.g. model-card), what it says, what the table makes of it."""

    source: str
    where: str
    value: str
    id: str  # a table id; "unknown" when the table does not know the value

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "where": self.where, "value": self.value, "id": self.id}


def declare(source: str, where: str, value: str | None, *, text: bool = False) -> Declaration | None:
    """A Declaration from a name (or a license text when text=True); None when there is nothing to declare."""
    if value is None or not str(value).strip():
        return None
    value = str(value)
    found = identify_text(value) if text else identify(value)
    shown = value if not text else (value.strip().splitlines() or [""])[0][:120]
    return Declaration(source, where, shown.strip(), found or "unknown")


def summarise(declarations: list[Declaration]) -> tuple[dict[str, Any], list[Finding]]:
    """The license section of a report: the primary id, every id found, the sources, and findings about gaps."""
    decls = sorted(declarations, key=lambda d: SOURCE_RANK.get(d.source, 9))
    known = [d for d in decls if d.id != "unknown"]
    ids = list(dict.fromkeys(d.id for d in known)) or (["unknown"] if decls else ["none"])
    primary = table()[ids[0]]
    findings: list[Finding] = []
    if not decls:
        findings.append(
            Finding(
                Severity.MEDIUM, "license", "no license is declared anywhere (GGUF, model card, LICENSE file, package)"
            )
        )
    elif not known:
        values = ", ".join(sorted({d.value for d in decls}))
        findings.append(
            Finding(
                Severity.MEDIUM,
                "license",
                f"the declared license ({values}) is not in the license table: read its terms yourself",
            )
        )
    if len(ids) > 1:
        said = "; ".join(f"{d.where} says {d.value}" for d in known)
        findings.append(
            Finding(
                Severity.MEDIUM,
                "license",
                f"license declarations disagree ({said}): a packager's license does not replace the model's; "
                "the use verdict applies all of them",
            )
        )
    section = {
        "id": primary.id,
        "name": primary.name,
        "spdx": primary.spdx,
        "url": primary.url,
        "ids": ids,
        "sources": [d.as_dict() for d in decls],
        "terms": {i: [t.as_dict() for t in table()[i].terms] for i in ids},
    }
    return section, findings


def decide(ids: list[str], use: Use, users: int = 0, distribute: bool = False, modify: bool = False) -> dict[str, Any]:
    """Allowed, allowed with obligations, or not allowed, for a planned use under every license in `ids`.

    users: monthly active users of the product; distribute: the weights or a product built on them go to others;
    modify: a fine-tune, merge or other derived model. Every license must be satisfied, so the strictest decides.
    """
    if use not in USES:
        raise InspectionError(f"unknown use {use!r}: choose one of {', '.join(USES)}")
    if users < 0:
        raise InspectionError(f"--users must be 0 or more, not {users}")
    rows = table()
    denies: list[dict[str, Any]] = []
    obligations: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for lic_id in ids or ["none"]:
        lic = rows.get(lic_id, rows["unknown"])
        for term in lic.terms:
            if not term.applies(use, users, distribute, modify):
                continue
            entry = {"license": lic.id, "clause": term.clause, "summary": term.summary}
            {"deny": denies, "oblige": obligations, "grant": grants, "note": notes}[term.effect].append(entry)
    verdict: Verdict = "not-allowed" if denies else "allowed-with-obligations" if obligations else "allowed"
    decisive = denies if denies else obligations if obligations else grants
    return {
        "use": use,
        "users": users,
        "distribute": distribute,
        "modify": modify,
        "licenses": list(ids),
        "verdict": verdict,
        "decisive": decisive,
        "obligations": obligations,
        "notes": notes,
    }
