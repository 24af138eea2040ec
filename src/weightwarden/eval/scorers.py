"""Scorers for generated answers, by name: the registry SCORERS (what a task file's `scorer.type` names) and the
registry CONSTRAINTS of checkable instructions that the "constraint" scorer checks.

A new scorer is a function and one `Scorer(...)` line in SCORERS; tests/test_eval_registries.py runs every entry.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from weightwarden.errors import TaskError
from weightwarden.eval.base import DEFAULT_METRICS, REFUSAL_METRICS, ScorerSpec
from weightwarden.eval.refusal import is_refusal

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s+\S")


def normalize(text: str) -> str:
    """Lowercase, drop punctuation and the articles a/an/the, collapse whitespace (SQuAD's normalisation)."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _targets(target: Any) -> list[str]:
    return [str(t) for t in (target if isinstance(target, list) else [target])]


def score_exact(answer: str, target: Any) -> bool:
    return any(answer.strip() == t.strip() for t in _targets(target))


def score_normalized(answer: str, target: Any) -> bool:
    got = normalize(answer)
    return any(got == normalize(t) for t in _targets(target))


def score_regex(answer: str, pattern: str) -> bool:
    return re.search(pattern, answer) is not None


def last_number(text: str) -> float | None:
    """The last number written in text ("The answer is 1,234.5." -> 1234.5), or None."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def score_numeric(answer: str, target: Any, tolerance: float = 1e-6) -> bool:
    got = last_number(answer)
    if got is None:
        return False
    return any(abs(got - float(t.replace(",", ""))) <= tolerance for t in _targets(target))


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def _json_object(text: str) -> Any:
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            return None
        try:
            return json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            return None


@dataclass(frozen=True)
class Constraint:
    """A checkable instruction ({"type": name, **fields}): what it asks and whether an answer keeps it."""

    name: str
    description: str
    fields: tuple[str, ...]  # the fields it needs besides "type"
    check: Callable[[str, dict[str, Any]], bool]  # (answer stripped, constraint) -> kept


def _bullets(text: str) -> int:
    return sum(1 for line in text.splitlines() if _BULLET.match(line))


def _json_keys(text: str, c: dict[str, Any]) -> bool:
    obj = _json_object(text)
    return isinstance(obj, dict) and set(obj) == {str(k) for k in c["keys"]}


CONSTRAINTS: dict[str, Constraint] = {
    c.name: c
    for c in (
        Constraint("word_count", "exactly n words", ("n",), lambda t, c: len(words(t)) == int(c["n"])),
        Constraint("max_words", "at least one word, at most n", ("n",), lambda t, c: 0 < len(words(t)) <= int(c["n"])),
        Constraint("json_keys", "a JSON object with exactly these keys (fenced or bare)", ("keys",), _json_keys),
        Constraint(
            "lowercase",
            "letters, none of them capitals",
            (),
            lambda t, c: any(ch.isalpha() for ch in t) and t == t.lower(),
        ),
        Constraint(
            "starts_with", "begins with this text, exactly", ("text",), lambda t, c: t.startswith(str(c["text"]))
        ),
        Constraint(
            "contains", "holds this text, ignoring case", ("text",), lambda t, c: str(c["text"]).lower() in t.lower()
        ),
        Constraint(
            "bullet_count", "exactly n bulleted or numbered lines", ("n",), lambda t, c: _bullets(t) == int(c["n"])
        ),
    )
}


def check_constraint(answer: str, constraint: dict[str, Any]) -> bool:
    """Whether answer keeps a checkable instruction such as {"type": "word_count", "n": 3}."""
    found = CONSTRAINTS.get(constraint["type"])
    if found is None:
        raise TaskError(f"unknown constraint type {constraint['type']!r}; use one of {', '.join(sorted(CONSTRAINTS))}")
    return found.check(answer.strip(), constraint)


# -- the scorers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorer:
    """A way to score a generated answer against its item.

    score(spec, answer, item, target_field) -> {"correct": 0|1, ...}; check_item(spec, item, target_field) -> the
    problem with an item this scorer cannot score (a missing or malformed field), or None. default_metrics: what a
    task using it reports when its file names no metrics.
    """

    name: str
    description: str
    score: Callable[[ScorerSpec, str, dict[str, Any], str], dict[str, Any]]
    check_item: Callable[[ScorerSpec, dict[str, Any], str], str | None]
    default_metrics: tuple[str, ...] = DEFAULT_METRICS["generate"]


def _needs_target(spec: ScorerSpec, item: dict[str, Any], target_field: str) -> str | None:
    target = item.get(target_field)
    targets = target if isinstance(target, list) else [target]
    if not (bool(targets) and all(isinstance(t, str | int | float) and not isinstance(t, bool) for t in targets)):
        return f"needs field {target_field!r}: the expected answer (or a list of them)"
    return None


def _needs_number(spec: ScorerSpec, item: dict[str, Any], target_field: str) -> str | None:
    problem = _needs_target(spec, item, target_field)
    if problem is not None:
        return problem
    try:
        [float(str(t).replace(",", "")) for t in _targets(item[target_field])]
    except ValueError:
        return f"field {target_field!r} is {item[target_field]!r}, which is not a number"
    return None


def _needs_pattern(spec: ScorerSpec, item: dict[str, Any], target_field: str) -> str | None:
    return None if spec.pattern is not None else _needs_target(spec, item, target_field)


def _needs_constraint(spec: ScorerSpec, item: dict[str, Any], target_field: str) -> str | None:
    constraint = item.get("constraint")
    if not isinstance(constraint, dict) or constraint.get("type") not in CONSTRAINTS:
        got = constraint.get("type") if isinstance(constraint, dict) else constraint
        return f"field 'constraint' has type {got!r}; use one of {', '.join(sorted(CONSTRAINTS))}"
    missing = [k for k in CONSTRAINTS[constraint["type"]].fields if k not in constraint]
    return f"constraint {constraint['type']} needs field {missing[0]!r}" if missing else None


def _needs_should_refuse(spec: ScorerSpec, item: dict[str, Any], target_field: str) -> str | None:
    if isinstance(item.get("should_refuse"), bool):
        return None
    return "needs field 'should_refuse' (true or false) for the refusal scorer"


def _exact(spec: ScorerSpec, answer: str, item: dict[str, Any], target_field: str) -> dict[str, Any]:
    return {"correct": int(score_exact(answer, item.get(target_field)))}


def _normalized(spec: ScorerSpec, answer: str, item: dict[str, Any], target_field: str) -> dict[str, Any]:
    return {"correct": int(score_normalized(answer, item.get(target_field)))}


def _numeric(spec: ScorerSpec, answer: str, item: dict[str, Any], target_field: str) -> dict[str, Any]:
    ok = score_numeric(answer, item.get(target_field), spec.tolerance)
    return {"correct": int(ok), "parsed": last_number(answer)}


def _regex(spec: ScorerSpec, answer: str, item: dict[str, Any], target_field: str) -> dict[str, Any]:
    patterns = [spec.pattern] if spec.pattern is not None else _targets(item.get(target_field))
    return {"correct": int(any(score_regex(answer, p) for p in patterns))}


def _constraint(spec: ScorerSpec, answer: str, item: dict[str, Any], target_field: str) -> dict[str, Any]:
    return {"correct": int(check_constraint(answer, item["constraint"]))}


def _refusal(spec: ScorerSpec, answer: str, item: dict[str, Any], target_field: str) -> dict[str, Any]:
    refused = is_refusal(answer)
    return {"refused": int(refused), "correct": int(refused == bool(item["should_refuse"]))}


SCORERS: dict[str, Scorer] = {
    s.name: s
    for s in (
        Scorer("exact", "the answer, stripped, equals a target", _exact, _needs_target),
        Scorer(
            "normalized",
            "equal to a target after lowercasing and dropping punctuation and articles (SQuAD's rule)",
            _normalized,
            _needs_target,
        ),
        Scorer(
            "regex", "the pattern (or a target, as a pattern) matches somewhere in the answer", _regex, _needs_pattern
        ),
        Scorer(
            "numeric",
            "the last number in the answer is within the tolerance of a target",
            _numeric,
            _needs_number,
        ),
        Scorer(
            "constraint",
            "the answer keeps the item's checkable instruction (see CONSTRAINTS)",
            _constraint,
            _needs_constraint,
        ),
        Scorer(
            "refusal",
            "the refusal detector's verdict matches the item's should_refuse",
            _refusal,
            _needs_should_refuse,
            REFUSAL_METRICS,
        ),
    )
}


def scorer(name: str) -> Scorer:
    """The registered scorer called name."""
    found = SCORERS.get(name)
    if found is None:
        raise TaskError(f"unknown scorer {name!r}; use one of {', '.join(SCORERS)}")
    return found


def score_generation(spec: ScorerSpec, answer: str, item: dict[str, Any], target_field: str) -> dict[str, Any]:
    """Score one generated answer; returns {"correct": 0|1, ...} (and "refused" for the refusal scorer)."""
    return scorer(spec.type).score(spec, answer, item, target_field)
