"""Decoders for text hidden in encodings: base64, hex, binary, URL/HTML/Unicode escapes, rot13 and reversed text.

Each decoding that reads as language becomes a View mapped onto the characters that hid it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import urllib.parse

import numpy as np

from weightwarden.guard.normalize import View

# Decoded views are capped so a text made of nothing but base64 cannot multiply the work without bound.
MAX_DECODED_VIEWS = 32
MAX_SEGMENT_CHARS = 200_000

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
# hex of printable text: every byte starts with 2-7, which keeps ordinary words ("deface") from being tried
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:(?:[2-7][0-9A-Fa-f]|0[9aAdD])[ :]?){8,}")
_BINARY = re.compile(r"(?<![01])(?:[01]{8} ?){4,}")
_ESCAPES = re.compile(r"%[0-9A-Fa-f]{2}|&#x?[0-9A-Fa-f]+;|&[a-z]+;|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}")
_CIPHER_WORDS = re.compile(
    r"\b(rot ?-?13|caesar|cipher|reverse[ds]?|backwards?|decode|encoded|decrypt)\b", re.IGNORECASE
)
_CIPHER_KEYS = ("rot", "caesar", "cipher", "revers", "backward", "decod", "encod", "decrypt")
_WORD = re.compile(r"[a-z]+")
_NO_DIGITS = str.maketrans("", "", "0123456789")

# Frequent English words: how we tell that a decoding (rot13, reversal) produced language rather than noise.
_COMMON_WORDS = """
the be to of and a in that have i it for not on with he as you do at this but his by from they we say her she or an
will my one all would there their what so up out if about who get which go me when make can like time no just him
know take people into year your good some could them see other than then now look only come its over think also back
after use two how our work first well way even new want because any these give day most us is are was were been has
had did does said tell write explain ignore previous instructions instruction prompt system rules must should never
always please answer question show reveal print output
"""
_COMMON = frozenset(_COMMON_WORDS.split())


def english_score(text: str) -> float:
    """Share of lowercase words that are frequent English words (0 for a text without words)."""
    words = _WORD.findall(text[:4000].lower())
    if not words:
        return 0.0
    return sum(1 for w in words if w in _COMMON) / len(words)


def _printable_share(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for c in text if c.isprintable() or c in "\n\t\r")
    return good / len(text)


def _as_language(data: bytes) -> str | None:
    """Decoded bytes as text when they look like language (printable UTF-8 with letters and a space)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 4 or _printable_share(text) < 0.95 or not re.search(r"[A-Za-z]{2,}", text):
        return None
    if " " not in text and len(text) > 24:
        return None
    return text


def _decode_base64(token: str) -> str | None:
    stripped = token.rstrip("=")
    if len(stripped) % 4 == 1:
        return None
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        data = base64.urlsafe_b64decode(padded) if ("-" in token or "_" in token) else base64.b64decode(padded)
    except (binascii.Error, ValueError):
        return None
    return _as_language(data)


def _segment_view(name: str, text: str, start: int, end: int, base: View) -> View:
    s, e = base.to_original(start, end)
    return View(name, text, segment=(s, e))


def decoded(base: View) -> list[View]:
    """Decode base64, hex, binary, escapes, rot13 and reversed text found in the normalized text."""
    text = base.text
    out: list[View] = []
    long_word = len(text) >= 200_000 or any(len(w) >= 16 for w in text.split())
    for m in _BASE64.finditer(text) if long_word else ():
        if len(out) >= MAX_DECODED_VIEWS:
            break
        token = m.group(0)
        if len(token) > MAX_SEGMENT_CHARS or token.isalpha() or token.isdigit():
            continue
        decoded = _decode_base64(token)
        if decoded is None:
            continue
        inner = _decode_base64(decoded.strip()) if _BASE64.fullmatch(decoded.strip()) else None
        out.append(_segment_view("base64", inner or decoded, m.start(), m.end(), base))
    n_digits = len(text) - len(text.translate(_NO_DIGITS))
    for m in _HEX.finditer(text) if n_digits >= 8 else ():
        if len(out) >= MAX_DECODED_VIEWS:
            break
        hexdigits = re.sub(r"[ :]", "", m.group(0))
        if len(hexdigits) % 2 or len(hexdigits) > MAX_SEGMENT_CHARS:
            continue
        decoded = _as_language(bytes.fromhex(hexdigits))
        if decoded is not None:
            out.append(_segment_view("hex", decoded, m.start(), m.end(), base))
    for m in _BINARY.finditer(text) if text.count("0") + text.count("1") >= 32 else ():
        bits = m.group(0).replace(" ", "")
        data = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - len(bits) % 8, 8))
        decoded = _as_language(data)
        if decoded is not None:
            out.append(_segment_view("binary", decoded, m.start(), m.end(), base))
    if ("%" in text or "&" in text or "\\" in text) and len(_ESCAPES.findall(text, 0, 100_000)) >= 3:
        unescaped = html.unescape(urllib.parse.unquote(text))
        unescaped = re.sub(r"\\u([0-9A-Fa-f]{4})", lambda m: chr(int(m.group(1), 16)), unescaped)
        unescaped = re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), unescaped)
        if unescaped != text:
            out.append(View("escapes", unescaped, segment=(0, _orig_len(base))))
    plain = english_score(text)
    low = text[:100_000].lower()
    cipher_hint = any(w in low for w in _CIPHER_KEYS) and _CIPHER_WORDS.search(text[:100_000]) is not None
    if plain >= 0.35 and not cipher_hint:
        return out  # plain English with no mention of a cipher: no rot13 or reversed text to look for
    for name, candidate in (("rot13", codecs.encode(text, "rot13")), ("reversed", text[::-1])):
        score = english_score(candidate)
        if (score > plain + 0.15 and score > 0.2) or (cipher_hint and score > 0.1):
            index = base.index if name == "rot13" else None
            if name == "reversed":
                n = len(text)
                index = (np.arange(n - 1, -1, -1) if base.index is None else base.index[::-1]) if n else None
            out.append(View(name, candidate, index))
    return out


def _orig_len(base: View) -> int:
    if base.index is not None and len(base.index):
        return int(base.index[-1]) + 1
    return len(base.text)
