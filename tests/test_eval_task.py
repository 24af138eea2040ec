"""Task files: loading, every mistake's message, sandboxed templates, seeded few-shot examples, suites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from weightwarden.errors import TaskError
from weightwarden.eval import PerturbationTask, Task, load_suite, load_task, render_prompt
from weightwarden.eval.runner import limited
from weightwarden.eval.suites import SUITES, available_suites

DATA = Path(__file__).parent / "data" / "eval"

MC_ITEMS = [
    {"id": f"q{i}", "question": f"Question {i}?", "choices": ["yes", "no", "maybe"], "answer": i % 3} for i in range(6)
]


def write_task(folder: Path, spec: dict[str, Any], items: list[dict[str, Any]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in (MC_ITEMS if items is None else items)))
    base = {
        "name": "t",
        "suite": "mine",
        "kind": "multiple_choice",
        "data": "items.jsonl",
        "template": "Q: {{ question }}\nA:",
    }
    path = folder / "task.yaml"
    import yaml

    path.write_text(yaml.safe_dump({**base, **spec}))
    return path


def test_a_good_task_loads_with_its_defaults(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, {}))
    assert isinstance(task, Task)
    assert (task.id, task.kind, len(task.items), task.metrics) == ("mine.t", "multiple_choice", 6, ("acc", "acc_norm"))
    assert render_prompt(task, task.items[0]) == "Q: Question 0?\nA:"
    assert len(task.digest) == 64


@pytest.mark.parametrize(
    ("spec", "items", "message"),
    [
        ({"data": "missing.jsonl"}, None, r"field 'data' names missing.jsonl, but .*missing.jsonl does not exist"),
        ({"kind": "essay"}, None, r"field 'kind' is 'essay'; use one of multiple_choice, generate, pair_preference"),
        ({"template": "{{ question }} {{ nope }}"}, None, r"item 'q0': field 'template' fails to render.*nope"),
        ({"template": "{% if %}"}, None, r"field 'template' does not compile"),
        ({}, [{"question": "x", "choices": ["a", "b"], "answer": 0}], r"items.jsonl:1: the item has no field 'id'"),
        ({}, [MC_ITEMS[0], MC_ITEMS[1], MC_ITEMS[0]], r"items.jsonl:3: duplicate id 'q0' \(first on line 1\)"),
        ({}, [{**MC_ITEMS[0], "answer": 3}], r"item 'q0': field 'answer' is 3; it must be the index .*\(0 to 2\)"),
        ({}, [{**MC_ITEMS[0], "choices": "abc"}], r"field 'choices' must be a list of at least two"),
        ({"temperature": 0.5}, None, r"unknown field 'temperature'"),
        ({"metrics": ["acc", "bleu"]}, None, r"unknown metric 'bleu'"),
        ({"kind": "generate", "scorer": {"type": "fuzzy"}}, None, r"field 'scorer.type' is 'fuzzy'"),
        ({"kind": "generate", "scorer": "numeric", "target_field": "question"}, None, r"'Question 0\?'.*not a number"),
        ({"kind": "generate", "scorer": "constraint"}, None, r"field 'constraint' has type None"),
        ({"kind": "generate", "scorer": "refusal"}, None, r"needs field 'should_refuse'"),
        ({"kind": "pair_preference", "template": ""}, None, r"needs field 'more'"),
        ({"fewshot": {"n": 6}}, None, r"field 'fewshot.n' is 6, but the data has only 6 items"),
        ({"max_tokens": 0}, None, r"field 'max_tokens' is 0; it must be a whole number of at least 1"),
        ({"name": ""}, None, r"field 'name' must be a non-empty string"),
    ],
)
def test_every_mistake_names_the_file_and_the_field(
    tmp_path: Path, spec: dict[str, Any], items: list[dict[str, Any]] | None, message: str
) -> None:
    path = write_task(tmp_path, spec, items)
    with pytest.raises(TaskError, match=message) as err:
        load_task(path)
    assert str(tmp_path) in str(err.value)


def test_bad_yaml_and_bad_json_lines_are_reported_with_their_place(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(TaskError, match=r"bad.yaml is not valid YAML"):
        load_task(bad)
    path = write_task(tmp_path / "j", {})
    (path.parent / "items.jsonl").write_text(json.dumps(MC_ITEMS[0]) + "\n{not json\n")
    with pytest.raises(TaskError, match=r"items.jsonl:2: not a JSON object"):
        load_task(path)
    with pytest.raises(TaskError, match=r"cannot read task file .*nowhere.yaml"):
        load_task(tmp_path / "nowhere.yaml")


def test_templates_run_in_a_sandbox(tmp_path: Path) -> None:
    path = write_task(tmp_path, {"template": "{{ question.__class__.__mro__[1].__subclasses__() }}"})
    with pytest.raises(TaskError, match=r"unsafe|fails to render"):
        load_task(path)


def test_fewshot_examples_are_seeded_exclude_the_item_and_carry_answers(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, {"fewshot": {"n": 2, "seed": 7}}))
    assert isinstance(task, Task)
    prompts = [render_prompt(task, it) for it in task.items]
    assert prompts == [render_prompt(task, it) for it in task.items]  # the same every time
    for item, prompt in zip(task.items, prompts, strict=True):
        blocks = prompt.split("\n\n")
        assert len(blocks) == 3 and blocks[-1] == f"Q: {item['question']}\nA:"
        assert item["question"] not in "".join(blocks[:2])
        for block in blocks[:2]:  # each example ends with its right answer
            question = block.split("\n")[0].removeprefix("Q: ")
            shown = next(it for it in task.items if it["question"] == question)
            assert block.endswith(" " + shown["choices"][shown["answer"]])
    other = load_task(write_task(tmp_path / "b", {"fewshot": {"n": 2, "seed": 8}}))
    assert isinstance(other, Task)
    assert [render_prompt(other, it) for it in other.items] != prompts


def test_test_suites_load_and_robustness_resolves_its_tasks() -> None:
    tasks = load_suite("all", DATA)
    ids = [t.id for t in tasks]
    assert ids == [
        "quality.capitals",
        "quality.sums",
        "safety.refusal",
        "bias.bbq",
        "bias.pairs",
        "robustness.robustness",
    ]
    robust = tasks[-1]
    assert isinstance(robust, PerturbationTask)
    assert [t.id for t in robust.resolved] == ["quality.capitals"]
    assert available_suites(DATA) == ["quality", "safety", "bias", "robustness"]


def test_missing_suites_and_unknown_tasks_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match=r"built-in suite 'quality' is not installed"):
        load_suite("quality", tmp_path)
    with pytest.raises(TaskError, match=r"unknown suite 'speed'"):
        load_suite("speed", tmp_path)
    robust = tmp_path / "robustness" / "r.yaml"
    robust.parent.mkdir()
    robust.write_text("name: r\nsuite: robustness\nkind: perturbation\ntasks: [quality.nothing]\n")
    with pytest.raises(TaskError, match=r"names quality.nothing, which is neither loaded nor a built-in task"):
        load_suite("robustness", tmp_path)
    robust.write_text("name: r\nkind: perturbation\ntasks: [quality.capitals]\nperturbations: [emoji]\n")
    with pytest.raises(TaskError, match=r"field 'perturbations' has 'emoji'"):
        load_task(robust)


def test_limit_takes_evenly_spaced_items() -> None:
    items = [{"id": str(i)} for i in range(10)]
    assert [it["id"] for it in limited(items, 4)] == ["0", "2", "5", "7"]
    assert limited(items, 20) == items and limited(items, None) == items


def test_every_builtin_task_loads_and_describes_itself() -> None:
    suites = available_suites()
    assert suites == list(SUITES), f"built-in suites missing from the package data: {set(SUITES) - set(suites)}"
    for suite in suites:
        for task in load_suite(suite):
            assert task.description, f"{task.path} has no description"
            assert task.suite == suite, f"{task.path} says suite {task.suite}, but lives in {suite}/"
