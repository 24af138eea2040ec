"""Personal data: e-mail addresses, phone numbers, payment cards (Luhn), IBANs (mod 97), US SSNs, UK National
Insurance and Canadian SIN numbers, IPv4 and IPv6 addresses; each candidate is validated before it counts."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from weightwarden.guard.base import Finding, ScanContext, Side, Span
from weightwarden.guard.normalize import Text

# IBAN length per country (ISO 13616 registry), so "GB29 NWBK..." of the wrong length is not an IBAN.
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The card network for a number's prefix and length, or None for a number no network issues."""
    n = len(digits)
    p2, p4, p6 = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 222100 <= p6 <= 272099) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or p2 == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (p2 in (36, 38, 39) or 300 <= int(digits[:3]) <= 305) and 14 <= n <= 19:
        return "diners"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if digits[:4] in ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763") and 12 <= n <= 19:
        return "maestro"
    return None


def iban_valid(compact: str) -> bool:
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def ssn_valid(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


@dataclass(frozen=True)
class Kind:
    """One kind of personal data; `may_occur` is a cheap test (digit count, a character) run before the regex."""

    name: str
    placeholder: str
    regex: re.Pattern[str]
    check: Callable[[str, str, int], bool]  # (match text, whole text, match start) -> is it this kind
    score: float
    may_occur: Callable[[str, int], bool] = lambda text, digits: True


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _card(m: str, text: str, at: int) -> bool:
    d = _digits(m)
    return 13 <= len(d) <= 19 and luhn(d) and card_brand(d) is not None


def _iban(m: str, text: str, at: int) -> bool:
    return iban_valid(m.replace(" ", "").upper())


def _ssn(m: str, text: str, at: int) -> bool:
    d = _digits(m)
    if len(d) != 9 or not ssn_valid(d):
        return False
    if re.fullmatch(r"\d{9}", m):  # nine bare digits are only an SSN when the text says so
        return re.search(r"\b(?:ssn|social\s+security)\b", text[max(0, at - 60) : at], re.IGNORECASE) is not None
    return True


def _sin(m: str, text: str, at: int) -> bool:
    d = _digits(m)
    near = re.search(r"\b(?:sin|social\s+insurance)\b", text[max(0, at - 60) : at], re.IGNORECASE)
    return len(d) == 9 and luhn(d) and d[0] not in "08" and near is not None


_NO_DIGITS = str.maketrans("", "", "0123456789")
_VERSION_BEFORE = re.compile(
    r"(?:version|ver\.?|v|release|build|firmware|python|node|chrome|ios|android)\s*$", re.IGNORECASE
)


def _ipv4(m: str, text: str, at: int) -> bool:
    return not _VERSION_BEFORE.search(text[max(0, at - 12) : at])


def _ipv6(m: str, text: str, at: int) -> bool:
    if m.count(":") < 2 or not re.search(r"[0-9a-fA-F]{3}|::", m):
        return False
    try:
        ipaddress.IPv6Address(m)
    except ValueError:
        return False
    return True


def _phone(m: str, text: str, at: int) -> bool:
    d = _digits(m)
    if not 8 <= len(d) <= 15:
        return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", m) or len(set(d)) == 1:
        return False
    return m.startswith("+") or len(d) <= 11


def _email(m: str, text: str, at: int) -> bool:
    return ".." not in m


_EMAIL = (
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}"
    r"[A-Za-z]{2,24}\b"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

_IBAN = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"
_CARD = r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"
_SSN = r"(?<![\d-])(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{9})(?![\d-])"
_NINO = r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
_SIN = r"(?<![\d-])\d{3}[- ]\d{3}[- ]\d{3}(?![\d-])"
_PHONE = (
    r"(?<![\w+])(?:\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(?\b[2-9]\d{2}\)?[ .-]?[2-9]\d{2}[ .-]\d{4}|\b0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4})(?![\w])"
)
_IPV4 = rf"(?<![\w.]){_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?![\w]|\.\d)"
_IPV6 = r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"

# Each kind's cheap precondition (text, number of digits in it): most texts skip most regexes.
KINDS: tuple[Kind, ...] = (
    Kind("email", "[EMAIL]", re.compile(_EMAIL), _email, 1.0, lambda t, d: "@" in t),
    Kind("iban", "[IBAN]", re.compile(_IBAN), _iban, 1.0, lambda t, d: d >= 4),
    Kind("card", "[CARD]", re.compile(_CARD), _card, 1.0, lambda t, d: d >= 12),
    Kind("ssn", "[SSN]", re.compile(_SSN), _ssn, 1.0, lambda t, d: d >= 9),
    Kind("uk_nino", "[NATIONAL_ID]", re.compile(_NINO), lambda m, t, a: True, 0.95, lambda t, d: d >= 6),
    Kind("ca_sin", "[NATIONAL_ID]", re.compile(_SIN), _sin, 0.95, lambda t, d: d >= 9),
    Kind("phone", "[PHONE]", re.compile(_PHONE), _phone, 0.9, lambda t, d: d >= 8),
    Kind("ipv4", "[IP]", re.compile(_IPV4), _ipv4, 0.85, lambda t, d: d >= 4 and "." in t),
    Kind("ipv6", "[IP]", re.compile(_IPV6), _ipv6, 0.85, lambda t, d: "::" in t or t.count(":") >= 4),
)


def find(
    text: str, kinds: tuple[Kind, ...] = KINDS, allowed: frozenset[str] | None = None
) -> Iterator[tuple[Kind, int, int]]:
    """Validated, non-overlapping matches in priority order (an IBAN is not also reported as a phone number)."""
    taken: list[tuple[int, int]] = []
    digits = len(text) - len(text.translate(_NO_DIGITS))
    for kind in kinds:
        if (allowed is not None and kind.name not in allowed) or not kind.may_occur(text, digits):
            continue
        for m in kind.regex.finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            if kind.check(m.group(0), text, s):
                taken.append((s, e))
                yield kind, s, e


class PIIDetector:
    name = "pii"
    label = "pii"
    description = (
        "Personal data: e-mail, phone, payment card (Luhn), IBAN (mod 97), SSN and other national IDs, IP addresses."
    )
    sides: tuple[Side, ...] = ("input", "output")

    def __init__(self, kinds: frozenset[str] | None = None) -> None:
        self.kinds = kinds

    def detect(self, text: Text, context: ScanContext) -> Finding:
        view = text.normalized
        spans: list[Span] = []
        counts: dict[str, int] = {}
        score = 0.0
        for kind, s, e in find(view.text, allowed=self.kinds):
            os_, oe = view.to_original(s, e)
            spans.append(Span(os_, oe, text.raw[os_:oe], kind.name))
            counts[kind.name] = counts.get(kind.name, 0) + 1
            score = max(score, kind.score)
        spans.sort(key=lambda sp: sp.start)
        return Finding(score, tuple(spans), self.label, {"kinds": counts} if counts else {})


PLACEHOLDERS = {k.name: k.placeholder for k in KINDS}
