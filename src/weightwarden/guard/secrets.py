"""Secrets: API keys of common providers, private keys, JWTs, credentials in URLs and assignments, and other
high-entropy tokens. Provider formats are exact; the generic rules need entropy and a mix of character classes."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from dataclasses import dataclass

from weightwarden.guard.base import Finding, ScanContext, Side, Span
from weightwarden.guard.normalize import Text


@dataclass(frozen=True)
class SecretRule:
    name: str
    regex: re.Pattern[str]
    score: float
    keys: tuple[str, ...]
    group: int = 0  # the regex group that is the secret itself (0: the whole match)
    any_case: bool = False  # keys are lowercase and looked for in the lowercased text


def _r(p: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(p, flags)


RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "private_key",
        _r(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----[\s\S]{0,20000}?"
            r"(?:-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----|$)"
        ),
        1.0,
        ("PRIVATE KEY",),
    ),
    SecretRule(
        "aws_access_key",
        _r(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
        1.0,
        ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
    ),
    SecretRule(
        "aws_secret_key",
        _r(
            r"(?i:aws_?secret_?access_?key|aws_?secret|secret_?access_?key)\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})"
            r"(?![A-Za-z0-9/+])"
        ),
        1.0,
        ("secret",),
        1,
        True,
    ),
    SecretRule(
        "github_token",
        _r(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
        1.0,
        ("gh", "github_pat_"),
    ),
    SecretRule("gitlab_token", _r(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), 1.0, ("glpat-",)),
    SecretRule("anthropic_key", _r(r"\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}"), 1.0, ("sk-ant-",)),
    SecretRule(
        "openai_key",
        _r(
            r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|\bsk-[A-Za-z0-9]{48}\b"
        ),
        1.0,
        ("sk-",),
    ),
    SecretRule("google_api_key", _r(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), 1.0, ("AIza",)),
    SecretRule("slack_token", _r(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 1.0, ("xox",)),
    SecretRule(
        "slack_webhook",
        _r(r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}"),
        1.0,
        ("hooks.slack.com",),
    ),
    SecretRule(
        "stripe_key",
        _r(r"\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{20,}\b"),
        1.0,
        ("sk_live", "sk_test", "rk_live", "rk_test"),
    ),
    SecretRule("twilio_key", _r(r"\bSK[0-9a-f]{32}\b"), 0.9, ("SK",)),
    SecretRule("sendgrid_key", _r(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"), 1.0, ("SG.",)),
    SecretRule("huggingface_token", _r(r"\bhf_[A-Za-z0-9]{34,}\b"), 1.0, ("hf_",)),
    SecretRule("npm_token", _r(r"\bnpm_[A-Za-z0-9]{36}\b"), 1.0, ("npm_",)),
    SecretRule("pypi_token", _r(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"), 1.0, ("pypi-",)),
    SecretRule("digitalocean_token", _r(r"\bdo[por]_v1_[a-f0-9]{64}\b"), 1.0, ("_v1_",)),
    SecretRule("shopify_token", _r(r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"), 1.0, ("shp",)),
    SecretRule("mailgun_key", _r(r"\bkey-[0-9a-f]{32}\b"), 0.9, ("key-",)),
    SecretRule("telegram_bot_token", _r(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"), 1.0, (":AA",)),
    SecretRule(
        "discord_token", _r(r"\b[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}\b"), 0.9, (".",)
    ),
    SecretRule("azure_storage_key", _r(r"AccountKey=([A-Za-z0-9+/]{86}==)"), 1.0, ("AccountKey=",), 1),
    SecretRule("jwt", _r(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0.95, ("eyJ",)),
    SecretRule(
        "url_credentials",
        _r(r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\"']{1,64}:([^\s@/\"']{3,128})@[\w.-]+"),
        0.95,
        ("://",),
        1,
    ),
    SecretRule(
        "assigned_secret",
        _r(
            # DB_PASSWORD=..., "api_key": "...", client-secret: ... (underscores join words, so no \\b there)
            r"(?i:(?<![a-z0-9])(?:[a-z0-9]+[_-])*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
            r"|auth[_-]?token|client[_-]?secret|private[_-]?key)(?:[_-][a-z0-9]+)*)[\"']?\s*(?::|=|=>|:=)\s*[\"']?"
            r"([^\s\"',;]{8,200})"
        ),
        0.8,
        ("pass", "pwd", "secret", "token", "key"),
        1,
        True,
    ),
)

_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{24,128}(?![A-Za-z0-9+/_=-])")
_PLACEHOLDER = re.compile(
    r"^(?:x+|\*+|<[^>]*>|\$\{?\w+\}?|your[_-]?\w*|changeme|password|example\w*|test\w*|dummy\w*|\.{3,})$", re.IGNORECASE
)


_PUBLIC_BEFORE = re.compile(
    r"(?:sha(?:1|224|256|384|512)|md5|fingerprint|digest|checksum|hash)\s*[:=]?\s*$", re.IGNORECASE
)
_LOWER_RUN = re.compile(r"[a-z]+")


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(s)
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_random(token: str) -> bool:
    """A token of mixed case and digits with high entropy: how keys look and words, hashes and UUIDs do not."""
    if len(token) < 24 or _PLACEHOLDER.match(token):
        return False
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    if classes < 3 or re.fullmatch(r"[0-9a-fA-F-]+", token):
        return False
    runs = _LOWER_RUN.findall(token)
    if runs and sum(map(len, runs)) / len(runs) >= 3.0:  # CamelCaseIdentifiers2 have word-length lowercase runs
        return False
    # base64 of ordinary text decodes to words: that is an encoding, not a secret (the normaliser scans it)
    if re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", token) and len(token) % 4 == 0:
        try:
            decoded = base64.b64decode(token).decode("utf-8")
            if decoded.isprintable() and " " in decoded:
                return False
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
    return entropy(token) >= 4.0 + 0.3 * math.log2(len(token) / 24)


def _jwt_ok(token: str) -> bool:
    head = token.split(".")[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and ("alg" in data or "typ" in data)


def find(text: str) -> list[tuple[str, int, int, float]]:
    """(rule, start, end, score) for each secret, non-overlapping, provider rules before generic ones."""
    out: list[tuple[str, int, int, float]] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return not any(s < te and ts < e for ts, te in taken)

    low = text.lower()
    for rule in RULES:
        if not any(k in (low if rule.any_case else text) for k in rule.keys):
            continue
        for m in rule.regex.finditer(text):
            s, e = m.span(rule.group)
            value = m.group(rule.group)
            if not free(s, e):
                continue
            if rule.name == "jwt" and not _jwt_ok(value):
                continue
            if rule.name == "assigned_secret" and (_PLACEHOLDER.match(value) or entropy(value) < 2.5):
                continue
            if rule.name == "discord_token" and not looks_random(value.replace(".", "")):
                continue
            taken.append((s, e))
            out.append((rule.name, s, e, rule.score))
    # a token of 24+ characters needs a whitespace-free run that long; str.split finds none in most prose quickly
    # (on long texts the split costs as much as the regex it would save)
    if len(text) < 200_000 and not any(len(w) >= 24 for w in text.split()):
        return sorted(out, key=lambda r: r[1])
    for m in _TOKEN.finditer(text):
        s, e = m.span()
        if _PUBLIC_BEFORE.search(text, max(0, s - 16), s):  # a key fingerprint or a digest is public, not secret
            continue
        if free(s, e) and looks_random(m.group(0)):
            taken.append((s, e))
            out.append(("high_entropy", s, e, 0.7))
    return sorted(out, key=lambda r: r[1])


class SecretsDetector:
    name = "secrets"
    label = "secret"
    description = (
        "Secrets: provider API keys, private keys, JWTs, credentials in URLs or assignments, high-entropy tokens."
    )
    sides: tuple[Side, ...] = ("input", "output")

    def detect(self, text: Text, context: ScanContext) -> Finding:
        view = text.normalized
        spans: list[Span] = []
        kinds: dict[str, int] = {}
        score = 0.0
        for name, s, e, sc in find(view.text):
            os_, oe = view.to_original(s, e)
            spans.append(Span(os_, oe, text.raw[os_:oe], name))
            kinds[name] = kinds.get(name, 0) + 1
            score = max(score, sc)
        return Finding(score, tuple(spans), self.label, {"kinds": kinds} if kinds else {})
