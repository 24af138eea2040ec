"""Undo obfuscation before scanning: fold homoglyphs, drop invisible characters, join spaced letters, undo leetspeak,
and decode base64, hex, rot13, URL and HTML escapes, reversed text and Unicode tag characters.

Every view keeps a map back to the caller's text, so a hit found in a decoded view is reported on the characters
that hid it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

# Decoded views are capped so a text made of nothing but base64 cannot multiply the work without bound.
MAX_DECODED_VIEWS = 32
MAX_SEGMENT_CHARS = 200_000

_CONFUSABLES = {
    # Cyrillic and Greek letters that look like Latin ones (the homoglyphs attackers actually use).
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "ѕ": "s",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "о": "o",
    "р": "p",
    "с": "c",
    "у": "y",
    "х": "x",
    "һ": "h",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ո": "n",
    "ս": "u",
    "ɡ": "g",
    "ɑ": "a",
    "ı": "i",
    "ȷ": "j",
    "ʟ": "l",
    "ɪ": "i",
    "ʀ": "r",
    "ᴀ": "a",
    "ʙ": "b",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ɢ": "g",
    "ʜ": "h",
    "ᴊ": "j",
    "ᴋ": "k",
    "ᴍ": "m",
    "ɴ": "n",
    "ᴏ": "o",
    "ᴘ": "p",
    "ꜱ": "s",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ʏ": "y",
    "ᴢ": "z",
    "А": "A",
    "В": "B",
    "Е": "E",
    "К": "K",
    "М": "M",
    "Н": "H",
    "О": "O",
    "Р": "P",
    "С": "C",
    "Т": "T",
    "Х": "X",
    "У": "Y",
    "Ѕ": "S",
    "І": "I",
    "Ј": "J",
    "Ԁ": "D",
    "Ԛ": "Q",
    "Ԝ": "W",
    "α": "a",
    "ο": "o",
    "ν": "v",
    "ρ": "p",
    "ι": "i",
    "κ": "k",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ε": "e",
    "Α": "A",
    "Β": "B",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "H",
    "Ι": "I",
    "Κ": "K",
    "Μ": "M",
    "Ν": "N",
    "Ο": "O",
    "Ρ": "P",
    "Τ": "T",
    "Υ": "Y",
    "Χ": "X",
    "ℓ": "l",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
}

# Blocks where NFKD turns letters into ASCII (fullwidth, mathematical bold/italic, enclosed, accented letters).
_FOLD_RANGES = (
    (0x80, 0x2AF),
    (0x1D00, 0x1DBF),
    (0x1E00, 0x1EFF),
    (0x2000, 0x206F),
    (0x2100, 0x218F),
    (0x2460, 0x24FF),
    (0xFB00, 0xFB06),
    (0xFF00, 0xFFEF),
    (0x1D400, 0x1D7FF),
    (0x1F100, 0x1F1FF),
)

_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
    }
)
_LEET_WORD = re.compile(r"(?<![\w@$!|+])(?=[\w@$!|+]*[a-zA-Z])(?=[\w@$!|+]*[0134578@$!|+])[\w@$!|+]{3,}")
# a letter next to a leet digit or symbol: without one, there is no leetspeak to undo (the common case, found fast)
_LEET_HINT = re.compile(r"[a-zA-Z][0134578@$!|+][\w@$!|+]|[0134578@$!|+][a-zA-Z]")
_SPACED = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z][ .\-_*/|]{1,3}){3,}[A-Za-z](?![A-Za-z0-9])")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
# hex of printable text: every byte starts with 2-7, which keeps ordinary words ("deface") from being tried
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:(?:[2-7][0-9A-Fa-f]|0[9aAdD])[ :]?){8,}")
_BINARY = re.compile(r"(?<![01])(?:[01]{8} ?){4,}")
_ESCAPES = re.compile(r"%[0-9A-Fa-f]{2}|&#x?[0-9A-Fa-f]+;|&[a-z]+;|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}")
_CIPHER_WORDS = re.compile(
    r"\b(rot ?-?13|caesar|cipher|reverse[ds]?|backwards?|decode|encoded|decrypt)\b", re.IGNORECASE
)
_WORD = re.compile(r"[a-z]+")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_CIPHER_KEYS = ("rot", "caesar", "cipher", "revers", "backward", "decod", "encod", "decrypt")
_INVISIBLE_IN_WORD = re.compile("[A-Za-z][\u200b-\u200f\u2060-\u2064\ufeff\u00ad]+[A-Za-z]")
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]")
_MIXED_SCRIPT = re.compile("(?:[A-Za-z][\u0370-\u03ff\u0400-\u052f]|[\u0370-\u03ff\u0400-\u052f][A-Za-z])")
_LOOKALIKE = re.compile("[\uff01-\uff5e\U0001d400-\U0001d7ff\u2460-\u24ff\U0001f100-\U0001f1ff]")

# Frequent English words: how we tell that a decoding (rot13, reversal) produced language rather than noise.
_COMMON = frozenset(
    [
        "the",
        "be",
        "to",
        "of",
        "and",
        "a",
        "in",
        "that",
        "have",
        "i",
        "it",
        "for",
        "not",
        "on",
        "with",
        "he",
        "as",
        "you",
        "do",
        "at",
        "this",
        "but",
        "his",
        "by",
        "from",
        "they",
        "we",
        "say",
        "her",
        "she",
        "or",
        "an",
        "will",
        "my",
        "one",
        "all",
        "would",
        "there",
        "their",
        "what",
        "so",
        "up",
        "out",
        "if",
        "about",
        "who",
        "get",
        "which",
        "go",
        "me",
        "when",
        "make",
        "can",
        "like",
        "time",
        "no",
        "just",
        "him",
        "know",
        "take",
        "people",
        "into",
        "year",
        "your",
        "good",
        "some",
        "could",
        "them",
        "see",
        "other",
        "than",
        "then",
        "now",
        "look",
        "only",
        "come",
        "its",
        "over",
        "think",
        "also",
        "back",
        "after",
        "use",
        "two",
        "how",
        "our",
        "work",
        "first",
        "well",
        "way",
        "even",
        "new",
        "want",
        "because",
        "any",
        "these",
        "give",
        "day",
        "most",
        "us",
        "is",
        "are",
        "was",
        "were",
        "been",
        "has",
        "had",
        "did",
        "does",
        "said",
        "tell",
        "write",
        "explain",
        "ignore",
        "previous",
        "instructions",
        "instruction",
        "prompt",
        "system",
        "rules",
        "now",
        "must",
        "should",
        "never",
        "always",
        "please",
        "answer",
        "question",
        "make",
        "how",
        "what",
        "why",
        "where",
        "show",
        "reveal",
        "print",
        "output",
    ]
)


@cache
def _fold_table() -> dict[int, str | None]:
    """Code point -> ASCII replacement (or None to delete), built once from NFKD and the confusables list."""
    table: dict[int, str | None] = {}
    for lo, hi in _FOLD_RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            cat = unicodedata.category(ch)
            if cat in ("Cf", "Cc", "Mn", "Me"):
                table[cp] = None
                continue
            if cat == "Zs":
                table[cp] = " "
                continue
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            if len(base) == 1 and base.isascii() and base.isprintable():
                table[cp] = base
    for cp in range(0x300, 0x370):  # combining marks: zalgo text and stacked accents
        table[cp] = None
    for cp in [*range(0xFE00, 0xFE10), 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0xAD]:
        table[cp] = None
    for cp in range(0xE0000, 0xE0080):  # Unicode tag characters smuggle ASCII: U+E0041 is an invisible "A"
        table[cp] = chr(cp - 0xE0000) if 0x20 <= cp - 0xE0000 < 0x7F else None
    for cp in range(0xE0100, 0xE01F0):
        table[cp] = None
    for ch, rep in _CONFUSABLES.items():
        table[ord(ch)] = rep
    for cp in range(0x00, 0x20):  # control characters (NUL included) except tab, newline, carriage return
        if cp not in (0x09, 0x0A, 0x0D):
            table[cp] = None
    table[0x7F] = None
    return table


@cache
def _deleted_codepoints() -> np.ndarray:
    return np.array(sorted(cp for cp, rep in _fold_table().items() if rep is None), dtype=np.uint32)


def codepoints(text: str) -> np.ndarray:
    """The text as an array of uint32 code points (surrogates from broken input are replaced first)."""
    try:
        raw = text.encode("utf-32-le")
    except UnicodeEncodeError:
        raw = text.encode("utf-32-le", errors="replace")
    return np.frombuffer(raw, dtype="<u4")


@dataclass(frozen=True)
class View:
    """One reading of the caller's text.

    index: for each character of this view, the index of the caller's character it came from (None: the same).
    segment: a decoded view maps as a whole onto this [start, end) of the caller's text.
    """

    name: str
    text: str
    index: np.ndarray | None = None
    segment: tuple[int, int] | None = None

    @property
    def obfuscated(self) -> bool:
        return self.name not in ("original", "normalized")

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        if self.segment is not None:
            return self.segment
        if self.index is None or len(self.index) == 0:
            return start, end
        n = len(self.index)
        s = int(self.index[min(max(start, 0), n - 1)])
        e = int(self.index[min(max(end - 1, 0), n - 1)]) + 1
        return s, max(e, s)


def english_score(text: str) -> float:
    """Share of lowercase words that are frequent English words (0 for a text without words)."""
    words = _WORD.findall(text[:4000].lower())
    if not words:
        return 0.0
    return sum(1 for w in words if w in _COMMON) / len(words)


class Text:
    """A text to scan, with its views computed once and shared by every detector."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        # Results shared between detectors (the learned scores of every view), so each is computed once per text.
        self.cache: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.raw)

    @cached_property
    def normalized(self) -> View:
        """Homoglyphs folded and invisible characters dropped; the same object as `original` for plain ASCII."""
        raw = self.raw
        if raw.isascii() and not _has_controls(raw):
            return View("original", raw)
        folded = raw.translate(_fold_table())
        if folded == raw:
            return View("original", raw)
        if len(folded) == len(raw):
            return View("normalized", folded)
        cps = codepoints(raw)
        keep = ~np.isin(cps, _deleted_codepoints())
        index = np.nonzero(keep)[0]
        if len(index) != len(folded):  # a replacement changed length: fall back to a per-character walk
            index = np.array([i for i, ch in enumerate(raw) for _ in range(len(ch.translate(_fold_table())))])
        return View("normalized", folded, index)

    @cached_property
    def views(self) -> list[View]:
        """Every reading worth scanning: the original, the normalized text, each decoding that looks like language."""
        base = self.normalized
        out = [View("original", self.raw)]
        if base.name != "original":
            out.append(base)
        spaced = _despace(base)
        if spaced is not None:
            out.append(spaced)
        leet = _deleet(spaced or base)
        if leet is not None:
            out.append(leet)
        out.extend(_decoded(base))
        return out

    @cached_property
    def pattern_views(self) -> list[View]:
        """Views for the pattern layer: the same as `views` (rot13 and reversed only when they read as language)."""
        return self.views

    def vocabulary(self, view: View) -> frozenset[str]:
        """A view's words and word prefixes (see patterns.vocabulary), computed once per view."""
        from weightwarden.guard.patterns import vocabulary

        key = f"vocab:{view.name}:{id(view)}"
        vocab = self.cache.get(key)
        if not isinstance(vocab, frozenset):
            vocab = vocabulary(self.lower(view))
            self.cache[key] = vocab
        return vocab

    def lower(self, view: View) -> str:
        """A view's text lowercased, computed once per view and shared by every pattern set."""
        key = f"lower:{view.name}:{id(view)}"
        low = self.cache.get(key)
        if not isinstance(low, str):
            low = view.text.lower()
            self.cache[key] = low
        return low

    @cached_property
    def tricks(self) -> list[str]:
        """What normalisation undid: invisible characters, tag characters, homoglyphs, lookalike letters."""
        if self.normalized.name == "original":
            return []
        raw = self.raw[:1_000_000]
        out = []
        if _INVISIBLE.search(raw):
            out.append("invisible_characters")
        if any(0xE0000 <= ord(c) <= 0xE007F for c in raw if ord(c) > 0xFFFF):
            out.append("unicode_tags")
        if _MIXED_SCRIPT.search(raw):
            out.append("homoglyphs")
        if _LOOKALIKE.search(raw):
            out.append("lookalike_letters")
        return out or ["unicode"]

    @cached_property
    def concealment(self) -> dict[str, float]:
        """How strongly each view looks deliberately hidden, 0..1, by view name (absent: not hidden at all).

        Hiding text is evidence of an attack in itself, graded by how rarely honest text does it: invisible tag
        characters and zero-width characters inside words almost never; mixed-script words and whole sentences
        spelled letter by letter rarely; base64, hex, rot13 and leetspeak often enough (puzzles, data, gamers).
        """
        out: dict[str, float] = {}
        raw = self.raw[:1_000_000]
        if self.normalized.name == "normalized":
            tags = sum(1 for c in raw if 0xE0020 <= ord(c) <= 0xE007E) if max(raw) >= "\U000e0000" else 0
            score = 0.0
            if tags >= 8:  # a flag emoji uses a handful of tag characters; hidden sentences use many
                score = max(score, 0.85)
            if len(_INVISIBLE_IN_WORD.findall(raw)) >= 3:
                score = max(score, 0.7)
            if len(_MIXED_SCRIPT.findall(raw)) >= 3:
                score = max(score, 0.7)
            if len(_LOOKALIKE.findall(raw)) >= 6:
                score = max(score, 0.45)
            if score:
                out["normalized"] = score
        for v in self.views:
            if v.name == "despaced":
                words = sum(1 for w in v.text.split() if len(w) >= 3) - sum(1 for w in raw.split() if len(w) >= 3)
                if words >= 4:
                    out[v.name] = 0.6
            elif v.name in ("base64", "hex", "binary", "rot13", "reversed", "escapes", "leet"):
                # common in honest text: alone never enough (0.15 or-ed with the hidden text's attack score
                # crosses 0.5 only when that score is above 0.41)
                out[v.name] = max(out.get(v.name, 0.0), 0.15)
        return out

    def technique(self, view_name: str) -> str:
        """The obfuscation a view undid, in the user's words."""
        if view_name == "normalized":
            return "+".join(self.tricks)
        return view_name


_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def _despace(view: View) -> View | None:
    """Join letters written one by one ("i g n o r e  a l l" -> "ignore all"); None when there are none."""
    text = view.text
    if not _SPACED.search(text):
        return None
    pieces: list[str] = []
    index: list[int] = []
    pos = 0
    for m in _SPACED.finditer(text):
        pieces.append(text[pos : m.start()])
        index.extend(range(pos, m.start()))
        run = m.group(0)
        # Two or more separators in a row mark a word break inside the spaced run.
        words = re.split(r"[ .\-_*/|]{2,}", run) if re.search(r"[ .\-_*/|]{2,}", run) else [run]
        offset = m.start()
        for k, word in enumerate(words):
            if k:
                pieces.append(" ")
                index.append(offset)
            at = run.find(word, offset - m.start()) + m.start()
            for j, ch in enumerate(word):
                if ch.isalpha():
                    pieces.append(ch)
                    index.append(at + j)
            offset = at + len(word)
        pos = m.end()
    pieces.append(text[pos:])
    index.extend(range(pos, len(text)))
    arr = np.array(index, dtype=np.int64)
    if view.index is not None:
        arr = view.index[arr]
    return View("despaced", "".join(pieces), arr)


def _deleet(view: View) -> View | None:
    """Undo leetspeak in words that mix letters with 0, 1, 3, 4, 5, 7, 8, @, $ ("1gn0r3" -> "ignore")."""
    if not _LEET_HINT.search(view.text):
        return None
    changed = False

    def fix(m: re.Match[str]) -> str:
        nonlocal changed
        word = m.group(0)
        if word.isdigit() or word.isalpha():
            return word
        changed = True
        return word.translate(_LEET)

    text = _LEET_WORD.sub(fix, view.text)
    return View("leet", text, view.index) if changed else None


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


def _decoded(base: View) -> list[View]:
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
