"""Seeded perturbations of a prompt for robustness: typos, casing, whitespace, a reworded instruction.

Each takes the prompt and a random.Random seeded per (seed, perturbation, task, item), so a rerun asks the
very same perturbed prompts (and hits the cache).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

_KEYBOARD_NEIGHBOURS = {
    "a": "qsz", "b": "vgn", "c": "xdv", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht", "h": "gjy", "i": "uok",
    "j": "hku", "k": "jli", "l": "kop", "m": "nj", "n": "bmh", "o": "ipl", "p": "ol", "q": "wa", "r": "etf",
    "s": "adw", "t": "ryg", "u": "yij", "v": "cbf", "w": "qes", "x": "zcs", "y": "tuh", "z": "xa",
}  # fmt: skip

# How the built-in templates phrase their instruction, and another way to say each.
_REWORDINGS = [
    (re.compile(r"\bQuestion:"), "Q:"),
    (re.compile(r"\bAnswer:"), "A:"),
    (re.compile(r"\bPassage:"), "Text:"),
    (re.compile(r"\bAnswer with (?:the|a) number only\b", re.I), "Reply with just the number"),
    (re.compile(r"\bAnswer\b"), "Respond"),
    (re.compile(r"\bWhat is\b"), "What's"),
    (re.compile(r"\bReply with\b"), "Respond with"),
]
_WORD = re.compile(r"[A-Za-z]{4,}")


def typos(text: str, rng: random.Random, rate: float = 0.1) -> str:
    """Swap two inner letters or hit a neighbouring key in about `rate` of the words of four letters or more."""

    def one(m: re.Match[str]) -> str:
        w = m.group(0)
        if rng.random() >= rate:
            return w
        if rng.random() < 0.5:
            i = rng.randrange(1, len(w) - 2)
            return w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        i = rng.randrange(1, len(w) - 1)
        c = w[i]
        near = _KEYBOARD_NEIGHBOURS.get(c.lower(), c)
        return w[:i] + rng.choice(near) + w[i + 1 :]

    return _WORD.sub(one, text)


def casing(text: str, rng: random.Random, rate: float = 0.3) -> str:
    """Change the case of about `rate` of the words: all lower, ALL UPPER or Title."""

    def one(m: re.Match[str]) -> str:
        w = m.group(0)
        if rng.random() >= rate:
            return w
        return rng.choice((str.lower, str.upper, str.title))(w)

    return re.sub(r"[A-Za-z]+", one, text)


def whitespace(text: str, rng: random.Random, rate: float = 0.3) -> str:
    """Widen about `rate` of the spaces between words to two or three; the prompt's end is left alone."""
    body, tail = text, ""
    # The last line's end decides how the answer is tokenised (" Paris" after "Answer:"): keep it as it was.
    m = re.search(r"\S+\s*$", text)
    if m:
        body, tail = text[: m.start()], text[m.start() :]
    return (
        re.sub(r"(?<=\S) (?=\S)", lambda _: " " * (2 + rng.randrange(2)) if rng.random() < rate else " ", body) + tail
    )


def reword(text: str, rng: random.Random) -> str:
    """Say the instruction another way: swap the template's cue words, or open with a different request."""
    out = text
    for pattern, replacement in _REWORDINGS:
        out = pattern.sub(replacement, out)
    if out == text:
        opener = rng.choice(("Please respond to the following.", "Here is a task for you.", "Consider this."))
        out = f"{opener}\n{text}"
    return out


PERTURB: dict[str, Callable[[str, random.Random], str]] = {
    "typos": typos,
    "casing": casing,
    "whitespace": whitespace,
    "reword": reword,
}


def perturb(text: str, name: str, seed: int, key: str) -> str:
    """Apply one named perturbation with a generator seeded by (seed, name, key): the same inputs, the same text."""
    return PERTURB[name](text, random.Random(f"{seed}:{name}:{key}"))
