"""Scan a chat template without trusting it: read its syntax tree for sandbox-escape shapes (dunder attributes,
unknown callables: CVE-2024-34359), then render it in a bounded sandbox with neutral messages and report any
instruction text the template adds by itself (a backdoored template that says "always recommend product X")."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, NoReturn

from jinja2 import TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from weightwarden.inspect.base import Finding, Severity

MAX_LINES = 2_000_000  # Python lines the compiled template may execute; ordinary templates need a few thousand
MAX_SECONDS = 2.0
MAX_OUTPUT = 1 << 20  # characters; a string product past this is a denial of service, not a prompt

SAFE_METHODS = frozenset(
    """strip lstrip rstrip split rsplit splitlines startswith endswith lower upper title capitalize replace items keys
    values get join count index find rfind isdigit isspace isalpha format cycle""".split()  # noqa: SIM905 - a word list
)
SAFE_FUNCTIONS = frozenset({"raise_exception", "strftime_now", "range", "namespace", "dict", "caller"})
SSTI_NAMES = frozenset({"self", "lipsum", "cycler", "joiner", "config", "request", "url_for", "get_flashed_messages"})
DUNDER_LIKE = frozenset({"mro", "func_globals", "f_globals", "gi_frame", "gi_code", "cr_frame", "f_back", "tb_frame"})

PROBE = {
    "system": "WWPROBESYSTEM",
    "user1": "WWPROBEUSERONE",
    "assistant": "WWPROBEASSISTANT",
    "user2": "WWPROBEUSERTWO",
}
BOS, EOS = "<s>", "</s>"

# Text that steers the model toward someone's interest or away from the user's: high severity when a template adds it.
STEERING = re.compile(
    r"recommend|promot|advertis|sponsor|\bbuy\b|purchase|discount|coupon|affiliate|\bbrand|product|subscribe|"
    r"https?://|www\.|\.com\b|@[a-z0-9-]+\.[a-z]{2,}|password|api[ _-]?key|credential|secret|exfiltrat|"
    r"ignore (all |any )?(previous|prior|above|earlier)|disregard|do not (tell|reveal|mention|disclose)|"
    r"never (tell|reveal|mention|disclose)|\bconceal|without telling|pretend",
    re.IGNORECASE,
)
IMPERATIVE = re.compile(r"\b(always|never|must|do not|don't|should|only)\b", re.IGNORECASE)
STRUCTURE = [
    re.compile(r"<\|[^|<>]{0,40}\|>"),
    re.compile(r"</?[A-Za-z_][A-Za-z0-9_:.\-]{0,40}>"),
    re.compile(r"<</?SYS>>|\[/?(INST|SYS|AVAILABLE_TOOLS|TOOL_RESULTS|TOOL_CALLS)\]"),
    re.compile(r"cutting knowledge date:[^\n]*|today date:[^\n]*|environment:\s*ipython", re.IGNORECASE),
]
# a role name standing alone as a header: at a line start, then a newline, a colon or the end
ROLE_HEADER = re.compile(
    r"^[ \t]*(system|user|assistant|model|human|gpt|bot|tool|ipython|developer)[ \t]*(:|$)",
    re.IGNORECASE | re.MULTILINE,
)


class _Budget(TemplateError):
    """Rendering used more time, steps or output than any chat template needs."""


def _raise(message: str) -> NoReturn:
    raise TemplateError(message)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with limits on string and list products, so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise _Budget(f"raises to the power {right}")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT:
                    raise _Budget(f"builds a sequence of {len(seq) * n:,} items")
        return super().call_binop(context, operator, left, right)


def environment() -> BoundedSandbox:
    env = BoundedSandbox(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: time.strftime(fmt, time.gmtime(0))  # fixed: renders are repeatable
    return env


def _limited(fn: Callable[[], str]) -> str:
    """Run fn with a line and time budget (enforced by a trace function, so loops without calls stop too)."""
    lines = 0
    deadline = time.monotonic() + MAX_SECONDS

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
            if lines > MAX_LINES or (lines % 4096 == 0 and time.monotonic() > deadline):
                raise _Budget(f"runs past {MAX_LINES:,} steps or {MAX_SECONDS:.0f} s")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return fn()
    finally:
        sys.settrace(previous)


# -- static ----------------------------------------------------------------------------------------------


def _static(ast: nodes.Template, where: str) -> list[Finding]:
    out: list[Finding] = []

    def add(sev: Severity, kind: str, detail: str) -> None:
        out.append(Finding(sev, kind, f"chat template {where}: {detail}"))

    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter, nodes.Name, nodes.Const)):
        if isinstance(node, nodes.Getattr):
            if node.attr.startswith("__") or node.attr in DUNDER_LIKE:
                add(
                    Severity.CRITICAL,
                    "template-code",
                    f"reads `.{node.attr}`, the first step of a sandbox escape (CVE-2024-34359)",
                )
            elif node.attr.startswith("_"):
                add(Severity.HIGH, "template-code", f"reads the private attribute `.{node.attr}`")
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            if node.arg.value.startswith("__"):
                add(Severity.CRITICAL, "template-code", f"reads `[{node.arg.value!r}]`, a dunder by subscript")
        elif isinstance(node, nodes.Call):
            callee = node.node
            if (
                isinstance(callee, nodes.Getattr)
                and callee.attr not in SAFE_METHODS
                and not callee.attr.startswith("_")
            ):
                add(Severity.MEDIUM, "template-code", f"calls `.{callee.attr}()`, not a method chat templates use")
            elif isinstance(callee, nodes.Name) and callee.name not in SAFE_FUNCTIONS | SSTI_NAMES:
                add(Severity.MEDIUM, "template-code", f"calls `{callee.name}()`, not a function chat templates use")
            elif not isinstance(callee, nodes.Getattr | nodes.Name):
                add(
                    Severity.HIGH,
                    "template-code",
                    "calls the result of an expression: a way to reach callables indirectly",
                )
        elif isinstance(node, nodes.Filter) and node.name in (
            "attr",
            "map",
            "selectattr",
            "rejectattr",
            "sort",
            "groupby",
        ):
            consts = [a.value for a in node.args if isinstance(a, nodes.Const) and isinstance(a.value, str)]
            consts += [
                k.value.value
                for k in node.kwargs
                if isinstance(k.value, nodes.Const) and isinstance(k.value.value, str)
            ]
            if any(c.startswith("_") for c in consts):
                add(Severity.CRITICAL, "template-code", f"filter `{node.name}` reaches {consts[0]!r}: a dunder by name")
            elif node.name == "attr":
                add(Severity.HIGH, "template-code", "uses the `attr` filter, which reads attributes by a computed name")
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in SSTI_NAMES:
            add(Severity.MEDIUM, "template-code", f"refers to `{node.name}`, a Jinja global used in template injection")
        elif (
            isinstance(node, nodes.Const) and isinstance(node.value, str) and re.search(r"__\w+__|^__|__$", node.value)
        ):
            add(Severity.HIGH, "template-code", f"holds the string {node.value[:40]!r}, a dunder name in pieces")
    unique: dict[tuple[str, str], Finding] = {(f.kind, f.detail): f for f in out}
    return list(unique.values())


# -- dynamic ---------------------------------------------------------------------------------------------


@dataclass
class Render:
    scenario: str
    messages: list[str]  # probe keys in order
    text: str = ""
    error: str = ""


@dataclass
class TemplateReport:
    """What one template is and does: its findings, the text it adds on its own, and sample renders."""

    findings: list[Finding] = field(default_factory=list)
    added_text: list[dict[str, Any]] = field(default_factory=list)
    renders: dict[str, str] = field(default_factory=dict)


def _clean(segment: str) -> str:
    text = segment.replace(BOS, "\n").replace(EOS, "\n")
    for pattern in STRUCTURE:
        text = pattern.sub("\n", text)
    text = ROLE_HEADER.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip(" \n\t:-|")


def _segments(render: Render) -> list[tuple[str, str]]:
    """Split a render at the probe messages: (where, text added there) for each gap, the first and the last."""
    text = render.text
    out: list[tuple[str, str]] = []
    names = ["start"] + [f"after {k}" for k in render.messages]
    pattern = "|".join(re.escape(PROBE[k]) for k in render.messages)
    pieces = re.split(pattern, text, flags=re.IGNORECASE)
    for i, piece in enumerate(pieces):
        out.append((names[i] if i < len(names) else f"after message {i}", piece))
    return out


def _render(env: BoundedSandbox, source: str, render: Render) -> Render:
    roles = {"system": "system", "user1": "user", "assistant": "assistant", "user2": "user"}
    messages = [{"role": roles[k], "content": PROBE[k]} for k in render.messages]
    try:
        template = env.from_string(source)
        render.text = _limited(
            lambda: str(
                template.render(messages=messages, add_generation_prompt=True, bos_token=BOS, eos_token=EOS, tools=None)
            )
        )[:MAX_OUTPUT]
    except SecurityError as exc:
        render.error = f"security: {exc}"
    except _Budget as exc:
        render.error = f"budget: {exc}"
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        render.error = f"error: {exc}"
    return render


def _added(renders: list[Render], where: str) -> tuple[list[dict[str, Any]], list[Finding]]:
    added: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    for r in renders:
        if r.error:
            continue
        for probe in r.messages:
            if PROBE[probe].lower() not in r.text.lower():
                findings.append(
                    Finding(
                        Severity.MEDIUM,
                        "template-injection",
                        f"chat template {where} drops the {probe} message ({r.scenario})",
                    )
                )
        for position, piece in _segments(r):
            text = _clean(piece)
            if len(re.findall(r"[A-Za-z]{2,}", text)) < 3:
                continue
            entry = added.setdefault(text, {"text": text[:500], "where": [], "scenarios": []})
            entry["where"].append(position)
            entry["scenarios"].append(r.scenario)
    for entry in added.values():
        text = entry["text"]
        own_system = "with-system" in entry["scenarios"]
        after_user = any(w.startswith("after user") or w.startswith("after assistant") for w in entry["where"])
        if STEERING.search(text):
            sev, why = Severity.HIGH, "adds text that steers the model (promotion, links, secrets or overrides)"
        elif own_system or after_user:
            sev, why = Severity.MEDIUM, "adds its own instructions even when you give a system prompt"
        elif IMPERATIVE.search(text):
            sev, why = Severity.LOW, "adds a default system prompt with instructions when you give none"
        else:
            sev, why = Severity.INFO, "adds a default system prompt when you give none"
        entry["severity"] = str(sev)
        findings.append(Finding(sev, "template-injection", f"chat template {where} {why}: {text[:200]!r}"))
    return list(added.values()), findings


def scan_template(source: str, where: str = "", file: str | None = None) -> TemplateReport:
    """Parse, statically check and render one template; everything found comes back as findings, nothing raises.

    where: a label for messages, e.g. "tokenizer.chat_template"; file: the file the template came from.
    """
    report = TemplateReport()
    env = environment()
    try:
        ast = env.parse(source)
    except TemplateError as exc:
        report.findings.append(
            Finding(
                Severity.MEDIUM,
                "template-error",
                f"chat template {where} does not parse ({exc}); runtimes will fail on it",
                file,
            )
        )
        return report
    report.findings.extend(_static(ast, where))
    renders = [_render(env, source, Render("no-system", ["user1"]))]
    if not renders[0].error.startswith(("security", "budget")):  # once is enough to know, and the budget costs time
        with_system = _render(env, source, Render("with-system", ["system", "user1", "assistant", "user2"]))
        if with_system.error.startswith("error"):
            with_system = _render(env, source, Render("with-system", ["user1", "assistant", "user2"]))
        renders.append(with_system)
    for r in renders:
        if r.error.startswith("security"):
            report.findings.append(
                Finding(
                    Severity.CRITICAL,
                    "template-code",
                    f"chat template {where} tried an unsafe operation when rendered ({r.error})",
                )
            )
        elif r.error.startswith("budget"):
            report.findings.append(
                Finding(
                    Severity.HIGH, "template-code", f"chat template {where} exceeded its rendering budget ({r.error})"
                )
            )
        elif r.error:
            report.findings.append(
                Finding(
                    Severity.LOW,
                    "template-error",
                    f"chat template {where} fails with ordinary messages ({r.scenario}: {r.error})",
                )
            )
        else:
            report.renders[r.scenario] = r.text
    report.added_text, findings = _added(renders, where)
    report.findings.extend(findings)
    report.findings = [replace(f, file=file) for f in report.findings]
    return report
