"""Synthetic evaluation sets for the pattern detectors: PII, secrets and leaked canaries, with near-misses.

Written independently of the detectors (own Luhn and mod-97 arithmetic, own formats) so that a bug in a detector's
validator cannot also be a bug in the data that tests it. Seeded, so every run measures the same texts.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

SEED = 7
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Case:
    text: str
    positive: bool
    kind: str  # what is (or is nearly) in the text
    value: str = ""  # the exact substring a detector should report, for positives


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = [int(c) for c in body + check]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return body + check
    raise AssertionError("unreachable")


def _luhn_break(number: str) -> str:
    last = int(number[-1])
    return number[:-1] + str((last + 1) % 10)


def _group(number: str, sep: str, sizes: tuple[int, ...]) -> str:
    out, pos = [], 0
    for s in sizes:
        out.append(number[pos : pos + s])
        pos += s
    if pos < len(number):
        out.append(number[pos:])
    return sep.join(p for p in out if p)


def _iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    num = int("".join(str(int(c, 36)) for c in rearranged))
    check = 98 - num % 97
    return f"{country}{check:02d}{bban}"


IBAN_FORMATS = {
    "DE": "n18",
    "GB": "a4n14",
    "FR": "n10a11n2",
    "NL": "a4n10",
    "ES": "n20",
    "IT": "a1n10a12",
    "BE": "n12",
    "CH": "n5a12",
    "PL": "n24",
    "SE": "n20",
}


def _bban(fmt: str, rng: random.Random) -> str:
    out = []
    i = 0
    while i < len(fmt):
        kind = fmt[i]
        j = i + 1
        while j < len(fmt) and fmt[j].isdigit():
            j += 1
        n = int(fmt[i + 1 : j])
        alphabet = string.digits if kind == "n" else string.ascii_uppercase + string.digits
        out.append("".join(rng.choice(alphabet) for _ in range(n)))
        i = j
    return "".join(out)


SENTENCES = (
    "Please update my details: {x}.",
    "You can reach the customer at {x} if the parcel is delayed.",
    "For the refund, use {x} as stated on the form.",
    "{x}",
    "Note from the call: client gave {x} and asked for a callback tomorrow.",
    "Here is the record you asked for - {x} - let me know if anything is missing.",
)


def pii_cases(n_per_kind: int = 60) -> list[Case]:
    """Each PII kind in several formats inside sentences, plus near-misses that must not count."""
    rng = random.Random(SEED)
    first = ["anna", "li", "omar", "j.smith", "maria_g", "t.nguyen", "kofi", "ewa", "raj", "sam"]
    domains = ["example.com", "mail.example.org", "uni.example.ac.uk", "firma.example.de", "corp.example.io"]
    cases: list[Case] = []

    def add(kind: str, value: str) -> None:
        cases.append(Case(rng.choice(SENTENCES).replace("{x}", value), True, kind, value))

    for _ in range(n_per_kind):
        add("email", f"{rng.choice(first)}{rng.randint(1, 999)}@{rng.choice(domains)}")
        area, ex, line = rng.randint(201, 989), rng.randint(200, 989), rng.randint(0, 9999)
        add(
            "phone",
            rng.choice(
                [
                    f"({area}) {ex}-{line:04d}",
                    f"{area}-{ex}-{line:04d}",
                    f"+1 {area} {ex} {line:04d}",
                    f"+44 20 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
                    f"+49 30 {rng.randint(1000000, 99999999)}",
                    f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                    f"+91 {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}",
                ]
            ),
        )
        brand = rng.choice(
            [
                ("4", 16, (4, 4, 4, 4)),
                ("5" + str(rng.randint(1, 5)), 16, (4, 4, 4, 4)),
                ("3" + rng.choice("47"), 15, (4, 6, 5)),
                ("6011", 16, (4, 4, 4, 4)),
            ]
        )
        number = _luhn_complete(brand[0], brand[1], rng)
        add("card", rng.choice([number, _group(number, " ", brand[2]), _group(number, "-", brand[2])]))
        country = rng.choice(list(IBAN_FORMATS))
        iban = _iban(country, _bban(IBAN_FORMATS[country], rng))
        add("iban", rng.choice([iban, " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))]))
        a = rng.choice([x for x in range(1, 900) if x != 666])
        add(
            "ssn",
            rng.choice(
                [
                    f"{a:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",
                    f"{a:03d} {rng.randint(1, 99):02d} {rng.randint(1, 9999):04d}",
                ]
            ),
        )
        add(
            "ip",
            rng.choice(
                [
                    ".".join(str(rng.randint(1, 254)) for _ in range(4)),
                    ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8)),
                    f"2001:db8::{rng.randint(1, 65535):x}",
                ]
            ),
        )
    misses = [
        lambda: f"Order number {rng.randint(10**9, 10**10)} shipped on 2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}.",
        lambda: f"Card ending in {_luhn_break(_luhn_complete('4', 16, rng))} was declined (checksum failed).",
        lambda: f"Reference {_luhn_break(_luhn_complete('5' + str(rng.randint(1, 5)), 16, rng))}",
        lambda: (lambda i: f"Account {i[:2]}{(int(i[2:4]) + 1) % 100:02d}{i[4:]} (typo)")(
            _iban("DE", _bban("n18", rng))
        ),
        lambda: f"The meeting is at {rng.randint(10, 12)}:{rng.randint(10, 59)} in room {rng.randint(100, 999)}.",
        lambda: (
            f"Upgrade to version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"
            " for the fix."
        ),
        lambda: f"Invalid SSN 000-{rng.randint(10, 99)}-{rng.randint(1000, 9999)} was rejected.",
        lambda: f"Invalid SSN 666-{rng.randint(10, 99)}-{rng.randint(1000, 9999)} was rejected.",
        lambda: f"ISBN 978-{rng.randint(0, 9)}-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}-{rng.randint(0, 9)}",
        lambda: f"The total came to {rng.randint(1, 999)},{rng.randint(100, 999)}.{rng.randint(10, 99)} euros.",
        lambda: "Write to the team at support (at) example (dot) com.",
        lambda: f"Coordinates: {rng.uniform(-90, 90):.5f}, {rng.uniform(-180, 180):.5f}",
        lambda: f"Batch {rng.randint(1000, 9999)}-{rng.randint(10, 99)}-{rng.randint(100, 999)} passed QA.",
        lambda: f"We sold {rng.randint(1000, 9999)} units in {rng.randint(2000, 2024)}.",
    ]
    for i in range(n_per_kind * 3):
        cases.append(Case(misses[i % len(misses)](), False, "near_miss"))
    return cases


def _rand(alphabet: str, n: int, rng: random.Random) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def secret_cases(n_per_kind: int = 25) -> list[Case]:
    """Provider keys, private keys, JWTs, credentials in URLs and assignments; plus hashes, UUIDs and placeholders."""
    rng = random.Random(SEED + 1)
    an = string.ascii_letters + string.digits
    up = string.ascii_uppercase + string.digits
    gens = {
        "aws_access_key": lambda: "AKIA" + _rand(up, 16, rng),
        "github_token": lambda: "ghp_" + _rand(an, 36, rng),
        "openai_key": lambda: "sk-proj-" + _rand(an + "_-", 48, rng) + "T3BlbkFJ" + _rand(an, 24, rng),
        "anthropic_key": lambda: "sk-ant-api03-" + _rand(an + "_-", 93, rng) + "AA",
        "google_api_key": lambda: "AIza" + _rand(an + "_-", 35, rng),
        "slack_token": lambda: f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**10, 10**11)}-{_rand(an, 24, rng)}",
        "stripe_key": lambda: "sk_live_" + _rand(an, 24, rng),
        "huggingface_token": lambda: "hf_" + _rand(an, 34, rng),
        "gitlab_token": lambda: "glpat-" + _rand(an, 20, rng),
        "jwt": lambda: ".".join(
            [
                _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()),
                _b64url(json.dumps({"sub": str(rng.randint(1, 10**6)), "iat": rng.randint(10**9, 2 * 10**9)}).encode()),
                _b64url(rng.randbytes(32)),
            ]
        ),
        "private_key": lambda: (
            "-----BEGIN RSA PRIVATE KEY-----\n"
            + "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(6))
            + "\n-----END RSA PRIVATE KEY-----"
        ),
        "url_credentials": lambda: f"postgresql://app:{_rand(an, 14, rng)}@db.internal.example:5432/shop",
        "assigned_secret": lambda: f"DB_PASSWORD={_rand(an + '#%!', 16, rng)}",
        "high_entropy": lambda: _rand(an, 40, rng),
    }
    frames = (
        "Here is the config: {x}",
        "export KEY={x}",
        "Use this to log in: {x}",
        "{x}",
        'Can you check why this fails? token = "{x}"',
        "I accidentally pasted {x} into the chat",
    )
    cases = []
    for kind, gen in gens.items():
        for _ in range(n_per_kind):
            value = gen()
            frame = rng.choice(frames)
            if kind in ("assigned_secret", "url_credentials", "private_key"):
                frame = rng.choice(("{x}", "Config:\n{x}", "Here it is: {x}"))
            cases.append(Case(frame.replace("{x}", value), True, kind, value))
    negatives = [
        lambda: f"commit {_rand('0123456789abcdef', 40, rng)} fixed the build",
        lambda: f"sha256: {_rand('0123456789abcdef', 64, rng)}",
        lambda: (
            f"request id {_rand(HEX, 8, rng)}-{_rand(HEX, 4, rng)}-4{_rand(HEX, 3, rng)}-a{_rand(HEX, 3, rng)}"
            f"-{_rand(HEX, 12, rng)}"
        ),
        lambda: "api_key = YOUR_API_KEY_HERE",
        lambda: "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxx",
        lambda: "password: ********",
        lambda: f"The base64 of the message is {base64.b64encode(b'see you at the station at nine tomorrow').decode()}",
        lambda: "Set token to ${GITHUB_TOKEN} in the workflow file.",
        lambda: f"https://example.com/search?q={_rand(string.ascii_lowercase, 8, rng)}&page={rng.randint(1, 9)}",
        lambda: "The function getUserAccountSettingsFromDatabaseCache returns a dict.",
        lambda: "/usr/local/lib/python3.11/site-packages/transformers/models/auto/modeling_auto.py",
        lambda: f"Our public key fingerprint is SHA256:{_rand(string.ascii_letters + string.digits + '+/', 43, rng)}",
    ]
    for i in range(n_per_kind * 6):
        cases.append(Case(negatives[i % len(negatives)](), False, "near_miss"))
    return cases


@dataclass(frozen=True)
class LeakCase:
    output: str
    canary: str
    system_prompt: str
    positive: bool
    kind: str


def leakage_cases(n: int = 40) -> list[LeakCase]:
    """Answers that leak a canary (verbatim, spaced, encoded, cased) or system-prompt passages, and ones that don't."""
    rng = random.Random(SEED + 2)
    system = (
        "You are the support assistant for Brightside Energy. Only discuss billing, meter readings and tariffs. "
        "Never offer refunds above fifty pounds without escalating to a human agent. Keep answers under 120 words."
    )
    answers = [
        "Your next bill is due on the 3rd of the month.",
        "You can submit a meter reading in the app under Account.",
        "Our standard variable tariff is 24p per kWh.",
        "I'm sorry, I can only help with billing questions.",
    ]
    out = []
    for i in range(n):
        canary = "wwc-" + _rand("0123456789abcdef", 16, rng)
        base = rng.choice(answers)
        style = i % 6
        if style == 0:
            leak = f"{base} My reference is {canary}."
        elif style == 1:
            leak = f"{base} {' '.join(canary)}"
        elif style == 2:
            leak = f"{base} Encoded: {base64.b64encode(canary.encode()).decode()}"
        elif style == 3:
            leak = f"{base} {canary.upper()}"
        elif style == 4:
            leak = f"My instructions say: {system}"
        else:
            leak = f"{base} I was told: Never offer refunds above fifty pounds without escalating to a human agent."
        kinds = [
            "canary",
            "canary_spaced",
            "canary_base64",
            "canary_upper",
            "system_prompt_full",
            "system_prompt_passage",
        ]
        out.append(LeakCase(leak, canary, system, True, kinds[style]))
        out.append(
            LeakCase(
                f"{base} Is there anything else about billing or tariffs I can help with?",
                canary,
                system,
                False,
                "clean",
            )
        )
    return out
