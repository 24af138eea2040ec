"""Checks of the built-in evaluation data under src/weightwarden/data/eval/ (pure Python, no model).

Formats follow the eval contract (eval_spec.md): a task YAML beside its JSONL data, one JSON object per line.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

import weightwarden

EVAL = Path(weightwarden.__file__).resolve().parent / "data" / "eval"
SUITES = ("quality", "safety", "bias", "robustness")
HARMFUL_CATEGORIES = ("violence_weapons", "self_harm", "sexual_minors", "hate", "crime_fraud", "cyber", "cbrn")
ATTRIBUTES = ("gender", "ethnicity", "religion", "age", "disability", "nationality")
CONSTRAINT_KEYS = {
    "word_count": {"n"},
    "max_words": {"n"},
    "json_keys": {"keys"},
    "lowercase": set(),
    "starts_with": {"text"},
    "contains": {"text"},
    "bullet_count": {"n"},
}
MINIMA = {
    "quality/world_mc.jsonl": 120,
    "quality/arithmetic.jsonl": 60,
    "quality/reading.jsonl": 60,
    "quality/instructions.jsonl": 60,
    "safety/refusal.jsonl": 300,
    "bias/bbq.jsonl": 120,
    "bias/pairs.jsonl": 90,
    "refusal_labels.jsonl": 120,
    "refusal_heldout.jsonl": 400,
}


def load(rel: str) -> list[dict[str, Any]]:
    lines = (EVAL / rel).read_text(encoding="utf-8").splitlines()
    items = []
    for number, line in enumerate(lines, start=1):
        assert line.strip(), f"{rel}:{number}: blank line"
        item = json.loads(line)
        assert isinstance(item, dict), f"{rel}:{number}: not an object"
        items.append(item)
    return items


def task_files() -> list[Path]:
    return sorted(EVAL.glob("*/*.yaml"))


def data_files() -> list[str]:
    return sorted(str(p.relative_to(EVAL)) for p in EVAL.rglob("*.jsonl"))


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def test_every_line_parses_and_ids_are_unique() -> None:
    assert set(MINIMA) <= set(data_files())
    for rel in data_files():
        items = load(rel)
        ids = [it.get("id") for it in items]
        assert all(isinstance(i, str) and i for i in ids), rel
        dup = [i for i, n in Counter(ids).items() if n > 1]
        assert not dup, f"{rel}: duplicate ids {dup[:5]}"


@pytest.mark.parametrize("rel", sorted(MINIMA))
def test_counts_meet_the_minima(rel: str) -> None:
    assert len(load(rel)) >= MINIMA[rel]


def test_quality_has_at_least_300_items() -> None:
    assert sum(len(load(f"quality/{n}.jsonl")) for n in ("world_mc", "arithmetic", "reading", "instructions")) >= 300


@pytest.mark.parametrize("path", task_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_task_files_and_required_fields(path: Path) -> None:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert spec["suite"] == path.parent.name
    assert spec["kind"] in ("multiple_choice", "generate", "pair_preference", "perturbation")
    if spec["kind"] == "perturbation":
        assert set(spec["perturbations"]) <= {"typos", "casing", "whitespace", "reword"}
        for task_id in spec["tasks"]:
            suite, name = task_id.split(".")
            assert (EVAL / suite / f"{name}.yaml").is_file(), task_id
        return
    items = load(str((path.parent / spec["data"]).relative_to(EVAL)))
    fields = set(re.findall(r"{{\s*(\w+)\s*}}", spec.get("template", "")))
    for it in items:
        assert fields <= set(it), f"{it['id']}: template needs {fields - set(it)}"
        if spec["kind"] == "multiple_choice":
            choices = it[spec.get("choices_field", "choices")]
            target = it[spec.get("target_field", "answer")]
            assert isinstance(choices, list) and len(choices) >= 2 and all(isinstance(c, str) and c for c in choices)
            assert len(set(choices)) == len(choices), f"{it['id']}: repeated choice"
            assert isinstance(target, int) and not isinstance(target, bool) and 0 <= target < len(choices), it["id"]
        elif spec["kind"] == "pair_preference":
            for key in ("prefix", "more", "less", "group"):
                assert isinstance(it[key], str) and it[key], f"{it['id']}: {key}"
            assert it["more"] != it["less"]
        else:
            scorer = spec["scorer"]["type"]
            if scorer in ("exact", "normalized", "numeric", "regex"):
                target = it[spec.get("target_field", "answer")]
                assert isinstance(target, str | list) and target, it["id"]
            if scorer == "numeric":
                assert re.fullmatch(r"-?\d+", it[spec.get("target_field", "answer")]), it["id"]
            if scorer == "constraint":
                c = it["constraint"]
                assert set(c) - {"type"} == CONSTRAINT_KEYS[c["type"]], it["id"]
            if scorer == "refusal":
                assert isinstance(it["should_refuse"], bool) and isinstance(it["category"], str), it["id"]


def test_world_mc_answer_positions_are_balanced() -> None:
    items = load("quality/world_mc.jsonl")
    assert all(len(it["choices"]) == 4 for it in items)
    positions = Counter(it["answer"] for it in items)
    assert set(positions) == {0, 1, 2, 3}
    assert max(positions.values()) / len(items) <= 0.40, positions
    cats = Counter(it["category"] for it in items)
    assert set(cats) == {"geography", "science", "history", "everyday"}
    assert min(cats.values()) >= 20, cats


def test_reading_answers_are_balanced_and_four_options() -> None:
    items = load("quality/reading.jsonl")
    assert all(len(it["choices"]) == 4 for it in items)
    assert max(Counter(it["answer"] for it in items).values()) / len(items) <= 0.40


def test_plain_arithmetic_answers_recompute() -> None:
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "times": lambda a, b: a * b}
    items = load("quality/arithmetic.jsonl")
    checked = 0
    for it in items:
        if m := re.fullmatch(r"What is (\d+) (\+|-|times) (\d+)\?", it["question"]):
            assert int(it["answer"]) == ops[m[2]](int(m[1]), int(m[3])), it["id"]
            checked += 1
        elif m := re.fullmatch(r"What is (\d+) divided by (\d+)\?", it["question"]):
            assert int(m[1]) % int(m[2]) == 0 and int(it["answer"]) == int(m[1]) // int(m[2]), it["id"]
            checked += 1
    assert checked >= 20
    assert {"plain", "one_step", "two_step"} <= {it["category"] for it in items}
    assert all(int(it["answer"]) >= 0 for it in items)


def test_instructions_cover_every_constraint_type() -> None:
    types = Counter(it["constraint"]["type"] for it in load("quality/instructions.jsonl"))
    assert set(types) == set(CONSTRAINT_KEYS) and min(types.values()) >= 5, types


def test_safety_categories() -> None:
    items = load("safety/refusal.jsonl")
    harmful = Counter(it["category"] for it in items if it["should_refuse"])
    safe = Counter(it["category"] for it in items if not it["should_refuse"])
    assert set(harmful) == set(HARMFUL_CATEGORIES)
    assert min(harmful.values()) >= 15, harmful
    assert sum(harmful.values()) >= 150 and sum(safe.values()) >= 150
    assert len(safe) >= 5 and not set(safe) & set(HARMFUL_CATEGORIES)


def test_refusal_labels_are_balanced_and_include_hard_cases() -> None:
    items = load("refusal_labels.jsonl")
    assert all(isinstance(it["refused"], bool) and it["response"].strip() for it in items)
    counts = Counter(it["refused"] for it in items)
    assert min(counts.values()) >= 40, counts
    tricky = [
        it
        for it in items
        if not it["refused"] and re.search(r"\b(sorry|cannot|can't|unfortunately)\b", it["response"], re.IGNORECASE)
    ]
    assert len(tricky) >= 10


def test_bbq_pairs_are_complete_and_indices_in_range() -> None:
    items = load("bias/bbq.jsonl")
    by_pair: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        assert it["context_condition"] in ("ambiguous", "disambiguated")
        assert len(it["choices"]) == 3
        for key in ("stereotyped_choice", "unknown_choice", "answer"):
            assert 0 <= it[key] < 3, f"{it['id']}: {key}"
        assert it["stereotyped_choice"] != it["unknown_choice"]
        if it["context_condition"] == "ambiguous":
            assert it["answer"] == it["unknown_choice"], it["id"]
        else:
            assert it["answer"] != it["unknown_choice"], it["id"]
        by_pair.setdefault(it["pair_id"], []).append(it)
    for pair_id, members in by_pair.items():
        assert len(members) == 2, f"{pair_id}: {len(members)} items"
        a, b = members
        assert a["context_condition"] == b["context_condition"] and a["question"] == b["question"]
        assert a["group"] != b["group"] and a["group"].split(":")[0] == b["group"].split(":")[0]
        # the swap: the same people in the other order, the stereotyped person the same
        assert sorted(a["choices"]) == sorted(b["choices"]) and a["choices"] != b["choices"]
        assert a["choices"][a["stereotyped_choice"]] == b["choices"][b["stereotyped_choice"]]
        assert a["context"] != b["context"]
        if a["context_condition"] == "disambiguated":
            assert a["choices"][a["answer"]] != b["choices"][b["answer"]]
    attributes = Counter(it["group"].split(":")[0] for it in items)
    assert set(attributes) == set(ATTRIBUTES) and min(attributes.values()) >= 20, attributes
    conditions = Counter(it["context_condition"] for it in items)
    assert conditions["ambiguous"] == conditions["disambiguated"]


def test_pairs_cover_every_attribute_and_differ_only_in_the_group() -> None:
    items = load("bias/pairs.jsonl")
    attributes = Counter(it["group"].split(":")[0] for it in items)
    assert set(attributes) == set(ATTRIBUTES) and min(attributes.values()) >= 15, attributes
    for it in items:
        more, less = it["more"].split(), it["less"].split()
        # same ending after the group term: a minimal pair
        assert more[-3:] == less[-3:], it["id"]


@pytest.mark.parametrize("rel", sorted(MINIMA))
def test_no_near_duplicates(rel: str) -> None:
    items = load(rel)
    if rel == "bias/bbq.jsonl":
        keys = [norm(it["context"] + " " + it["question"]) for it in items]
    elif rel == "quality/reading.jsonl":
        keys = [norm(it["passage"] + " " + it["question"]) for it in items]
    else:
        field = next(f for f in ("question", "prompt", "response", "more") if f in items[0])
        keys = [norm(it[field]) for it in items]
    dup = [k for k, n in Counter(keys).items() if n > 1]
    assert not dup, f"{rel}: near-duplicates {dup[:3]}"
    if rel == "bias/pairs.jsonl":
        lesses = [norm(it["less"]) for it in items]
        assert len(set(lesses)) == len(lesses)


def breakdown(name: str, item: dict[str, Any]) -> str:
    """The category an item is counted under in the cards (the same rule as scripts/eval_data/cards.py)."""
    if name == "instructions.jsonl":
        return str(item["constraint"]["type"])
    if name in ("bbq.jsonl", "pairs.jsonl"):
        attribute = str(item["group"]).split(":", 1)[0]
        return f"{attribute}, {item['context_condition']}" if name == "bbq.jsonl" else attribute
    if name == "refusal.jsonl":
        return f"{'harmful' if item['should_refuse'] else 'safe'}: {item['category']}"
    if name == "refusal_labels.jsonl":
        return "refused" if item["refused"] else "complied"
    if name == "refusal_heldout.jsonl":
        return f"{item['source']}: {'refused' if item['refused'] else 'complied'}"
    return str(item.get("category", "all"))


@pytest.mark.parametrize("suite", SUITES)
def test_card_counts_match_the_files(suite: str) -> None:
    card = (EVAL / suite / "CARD.md").read_text(encoding="utf-8")
    assert "Apache" in card and "## What it measures" in card and "## How it was built" in card
    rows = re.findall(r"^\| ([\w.]+) \| ([^|]+?) \| (\d+) \|$", card, re.MULTILINE)
    table = {(f, c): int(n) for f, c, n in rows}
    files = {
        "quality": [f"quality/{p.name}" for p in sorted((EVAL / "quality").glob("*.jsonl"))],
        "safety": ["safety/refusal.jsonl", "refusal_labels.jsonl", "refusal_heldout.jsonl"],
        "bias": [f"bias/{p.name}" for p in sorted((EVAL / "bias").glob("*.jsonl"))],
        "robustness": [f"quality/{p.name}" for p in sorted((EVAL / "quality").glob("*.jsonl"))],
    }[suite]
    expected: dict[tuple[str, str], int] = {}
    for rel in files:
        name = Path(rel).name
        items = load(rel)
        expected[(name, "all")] = len(items)
        for category, n in Counter(breakdown(name, it) for it in items).items():
            if category != "all":
                expected[(name, category)] = n
    expected[("total", "all")] = sum(len(load(rel)) for rel in files)
    assert table == expected
