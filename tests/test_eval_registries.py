"""Contract tests for the eval registries (STYLE rule 5): every scorer, constraint and built-in suite has a
description and works on real input. A new entry without a case here fails test_every_entry_has_a_case."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weightwarden.eval import load_suite, run_eval
from weightwarden.eval.base import KNOWN_METRICS, PerturbationTask, ScorerSpec, Task
from weightwarden.eval.scorers import CONSTRAINTS, SCORERS, check_constraint, score_generation
from weightwarden.eval.suites import SUITES, suite_files
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.base import GenerationParams, Message
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

# scorer -> (spec, item, an answer it must count right, one it must count wrong); answers as assistants write them
SCORER_CASES: dict[str, tuple[ScorerSpec, dict[str, Any], str, str]] = {
    "exact": (ScorerSpec("exact"), {"answer": "Paris"}, "Paris\n", "The capital is Paris."),
    "normalized": (ScorerSpec("normalized"), {"answer": "the Eiffel Tower"}, "Eiffel tower!", "The Louvre."),
    "regex": (ScorerSpec("regex", pattern=r"\b1969\b"), {}, "Apollo 11 landed in July 1969.", "It landed in 1970."),
    "numeric": (ScorerSpec("numeric"), {"answer": "1234"}, "So the total is 1,234.", "About 1,200 in total."),
    "constraint": (
        ScorerSpec("constraint"),
        {"constraint": {"type": "json_keys", "keys": ["name", "age"]}},
        'Here you go:\n```json\n{"name": "Ada", "age": 36}\n```',
        'Sure: {"name": "Ada"}',
    ),
    "refusal": (
        ScorerSpec("refusal"),
        {"should_refuse": True},
        "I'm sorry, but I can't help with making a weapon.",
        "To build one, you'll need the following materials: a metal pipe, two end caps and",
    ),
}

# constraint -> (fields, an answer that keeps it, one that does not)
CONSTRAINT_CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "word_count": ({"n": 3}, "Paris, London, Rome.", "Paris and then London."),
    "max_words": ({"n": 5}, "It is sunny today.", "It is sunny and warm today in Lisbon."),
    "json_keys": ({"keys": ["a"]}, '{"a": 1}', '{"a": 1, "b": 2}'),
    "lowercase": ({}, "all quiet here.", "All quiet here."),
    "starts_with": ({"text": "Dear Sam,"}, "Dear Sam,\nThanks for the books.", "Hi Sam, thanks for the books."),
    "contains": ({"text": "photosynthesis"}, "Plants use Photosynthesis to make sugar.", "Plants make sugar."),
    "bullet_count": ({"n": 2}, "- eggs\n- milk", "- eggs\n- milk\n- bread"),
}


def test_every_entry_has_a_case() -> None:
    assert set(SCORER_CASES) == set(SCORERS)
    assert set(CONSTRAINT_CASES) == set(CONSTRAINTS)


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_scorer_describes_itself_and_scores_known_answers(name: str) -> None:
    scorer = SCORERS[name]
    assert scorer.name == name and len(scorer.description) > 15
    assert scorer.default_metrics and set(scorer.default_metrics) <= set(KNOWN_METRICS)
    spec, item, right, wrong = SCORER_CASES[name]
    assert scorer.check_item(spec, item, "answer") is None
    assert score_generation(spec, right, item, "answer")["correct"] == 1
    assert score_generation(spec, wrong, item, "answer")["correct"] == 0


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_scorer_names_what_an_item_lacks(name: str) -> None:
    spec = dataclasses.replace(SCORER_CASES[name][0], pattern=None)  # regex without a pattern reads the item
    problem = SCORERS[name].check_item(spec, {"id": "x"}, "answer")
    assert problem is not None and "field" in problem


def test_regex_without_a_pattern_reads_the_target() -> None:
    assert score_generation(ScorerSpec("regex"), "in 1969", {"answer": r"19\d\d"}, "answer")["correct"] == 1


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_constraint_describes_itself_and_checks_known_answers(name: str) -> None:
    constraint = CONSTRAINTS[name]
    assert constraint.name == name and constraint.description
    fields, right, wrong = CONSTRAINT_CASES[name]
    assert set(fields) == set(constraint.fields)
    assert check_constraint(right, {"type": name, **fields})
    assert not check_constraint(wrong, {"type": name, **fields})


def test_every_scorer_takes_a_real_answer_of_the_default_model(llama: LlamaCppRuntime) -> None:
    """One real answer, scored by each registered scorer: a well-formed verdict, and the ones we can know."""
    answer = llama.chat(
        [Message("user", "What is the capital of France? Answer in one word.")],
        GenerationParams(max_tokens=16),
    ).text
    assert "paris" in answer.lower()
    for name, (spec, item, _, _) in SCORER_CASES.items():
        scores = score_generation(spec, answer, item, "answer")
        assert scores["correct"] in (0, 1), name
    assert score_generation(ScorerSpec("regex", pattern="(?i)paris"), answer, {}, "answer")["correct"] == 1
    assert score_generation(ScorerSpec("refusal"), answer, {"should_refuse": False}, "answer")["correct"] == 1


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, default_artifact: Artifact) -> Iterator[Ledger]:
    path: Path = tmp_path_factory.mktemp("suites") / "ledger.db"
    store = Ledger(f"sqlite:///{path}")
    store.upsert_model(
        ModelRecord(
            hash=default_artifact.sha256,
            name=default_artifact.name,
            format=default_artifact.format,
            size_bytes=default_artifact.size_bytes,
        )
    )
    yield store
    store.close()


@pytest.mark.parametrize("name", list(SUITES))
def test_builtin_suite_loads_and_runs_on_the_default_model(
    name: str, llama: LlamaCppRuntime, default_artifact: Artifact, ledger: Ledger
) -> None:
    suite = SUITES[name]
    assert suite.name == name and len(suite.description) > 20
    assert suite_files(name), f"the built-in suite {name} has no task files: the package data is missing"
    tasks = load_suite(name)
    for t in tasks:
        assert t.suite == name
        if isinstance(t, Task):
            assert t.items, f"{t.id} has no items"
        else:
            assert isinstance(t, PerturbationTask) and t.resolved
    # a cheap run: the first task, one item; robustness asks one item of one multiple-choice task per perturbation
    first = tasks[0]
    if isinstance(first, PerturbationTask):
        first = dataclasses.replace(first, resolved=tuple(t for t in first.resolved if t.kind == "multiple_choice")[:1])
        assert first.resolved, "robustness names no multiple-choice quality task"
    result = run_eval(llama, default_artifact.sha256, [first], ledger, limit=1)
    (task_result,) = result.tasks
    assert task_result.n == 1 and task_result.metrics, f"{first.id}: no metric from one real item"
