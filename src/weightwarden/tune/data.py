"""Training data: JSONL of chat conversations or prompt/completion pairs, validated line by line."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.runtimes.base import Message
from weightwarden.tune.base import TuneError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Example:
    """One training conversation and the line of the file it came from."""

    line: int
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Dataset:
    """A validated data file: its examples, what was left out and why, and its identity (sha256 of the bytes)."""

    path: Path
    sha256: str
    examples: tuple[Example, ...]
    skipped: tuple[tuple[int, str], ...] = ()  # (line, why): empty examples are reported and left out
    source: str = "unspecified"
    license: str = "unspecified"

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "examples": len(self.examples),
            "skipped": [{"line": n, "why": why} for n, why in self.skipped],
            "source": self.source,
            "license": self.license,
        }


@dataclass
class _Problems:
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _messages(obj: Any, where: str) -> list[Message] | str:
    """The conversation in one parsed line, or why it is empty; a malformed line raises TuneError."""
    if not isinstance(obj, dict):
        raise TuneError(f"{where}: expected a JSON object with `messages` or `prompt` and `completion`")
    if "messages" in obj:
        raw = obj["messages"]
        if not isinstance(raw, list) or not raw:
            raise TuneError(f"{where}: `messages` must be a non-empty list of {{role, content}} objects")
        out = []
        for i, m in enumerate(raw):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise TuneError(
                    f"{where}: message {i} needs a role ({', '.join(ROLES)}) and a string content, got {m!r:.80}"
                )
            out.append(Message(m["role"], m["content"]))
        if not any(m.role == "assistant" for m in out):
            raise TuneError(f"{where}: no assistant message, so there is no answer to learn")
        if any(m.role == "assistant" and not m.content.strip() for m in out):
            return "an assistant message is empty"
        return out
    if "prompt" in obj or "completion" in obj:
        prompt, completion = obj.get("prompt"), obj.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise TuneError(f"{where}: `prompt` and `completion` must both be strings")
        if not prompt.strip() or not completion.strip():
            return "the prompt or the completion is empty"
        system = obj.get("system")
        head = [Message("system", system)] if isinstance(system, str) and system.strip() else []
        return [*head, Message("user", prompt), Message("assistant", completion)]
    raise TuneError(f"{where}: expected `messages` (chat) or `prompt` and `completion` keys, got {sorted(obj)!r:.80}")


def read_dataset(path: Path, *, source: str = "unspecified", license: str = "unspecified") -> Dataset:
    """Read and validate a JSONL file; the first malformed line is an error naming it, empty examples are skipped."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TuneError(f"cannot read training data {path}: {exc.strerror or exc}; check the path") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TuneError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8 JSONL") from None
    examples: list[Example] = []
    problems = _Problems()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TuneError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); fix or remove the line"
            ) from None
        got = _messages(obj, where)
        if isinstance(got, str):
            problems.skipped.append((n, got))
        else:
            examples.append(Example(n, tuple(got)))
    if not examples:
        raise TuneError(f"{path} has no usable examples: each line needs a non-empty answer")
    return Dataset(path, hashlib.sha256(raw).hexdigest(), tuple(examples), tuple(problems.skipped), source, license)
