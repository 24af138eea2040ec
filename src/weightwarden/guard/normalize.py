"""Undo obfuscation before scanning: fold homoglyphs, drop invisible characters, join spaced letters, undo leetspeak,
and decode base64, hex, rot13, URL and HTML escapes, reversed text and Unicode tag characters.

Every view keeps a map back to the caller's text, so a hit found in a decoded view is reported on the characters
that hid it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

# Cyrillic, Greek and IPA letters that look like Latin ones (the homoglyphs attackers actually use): each character
# of _LOOKS_LIKE maps to the character at the same place in _MEANS.
_LOOKS_LIKE = (
    "авеёѕіїјорсухһԁԛԝոսɡɑıȷʟɪʀᴀʙᴄᴅᴇɢʜᴊᴋᴍɴᴏᴘꜱᴛᴜᴠᴡʏᴢАВ"
    "ЕКМНОРСТХУЅІЈԀԚԜαονρικτυχεΑΒΕΖΗΙΚΜΝΟΡΤΥΧℓ\u2018\u2019\u201c\u201d\u2013\u2014"
)
_MEANS = "abeesiijopcyxhdqwnugaijlirabcdeghjkmnopstuvwyzABEKMHOPCTXYSIJDQWaovpiktuxeABEZHIKMNOPTYXl''\"\"--"
_CONFUSABLES = dict(zip(_LOOKS_LIKE, _MEANS, strict=True))

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

_LEET = str.maketrans("0134578@$!|+9", "oieastbasilt" + "g")
_LEET_WORD = re.compile(r"(?<![\w@$!|+])(?=[\w@$!|+]*[a-zA-Z])(?=[\w@$!|+]*[0134578@$!|+])[\w@$!|+]{3,}")
# a letter next to a leet digit or symbol: without one, there is no leetspeak to undo (the common case, found fast)
_LEET_HINT = re.compile(r"[a-zA-Z][0134578@$!|+][\w@$!|+]|[0134578@$!|+][a-zA-Z]")
_SPACED = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z][ .\-_*/|]{1,3}){3,}[A-Za-z](?![A-Za-z0-9])")
_INVISIBLE_IN_WORD = re.compile("[A-Za-z][\u200b-\u200f\u2060-\u2064\ufeff\u00ad]+[A-Za-z]")
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]")
_MIXED_SCRIPT = re.compile("(?:[A-Za-z][\u0370-\u03ff\u0400-\u052f]|[\u0370-\u03ff\u0400-\u052f][A-Za-z])")
_LOOKALIKE = re.compile("[\uff01-\uff5e\U0001d400-\U0001d7ff\u2460-\u24ff\U0001f100-\U0001f1ff]")


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
        spaced = _local(base, [m.span() for m in _SPACED.finditer(base.text)], _despace)
        out.extend(spaced)
        for v in spaced or [base]:
            out.extend(_local(v, _leet_spans(v.text), _deleet))
        from weightwarden.guard.decode import decoded  # decode.py builds Views: imported here, not at the top

        out.extend(decoded(base))
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


SEGMENT_PAD = 160  # context kept around a changed region, so a pattern or window sees the whole sentence
MAX_SEGMENTS = 32


def _sub(view: View, start: int, end: int) -> View:
    """Characters [start, end) of a view, still mapped onto the caller's text."""
    index = view.index[start:end] if view.index is not None else np.arange(start, end)
    return View(view.name, view.text[start:end], index)


def _local(view: View, spans: list[tuple[int, int]], undo: Callable[[View], View | None]) -> list[View]:
    """Undo an obfuscation where it occurs: one view per changed region (with context), or one for the whole
    text when it is short or the regions are everywhere. A long document with two spaced-out words would otherwise
    be copied and scanned again in full for them."""
    if not spans:
        return []
    if len(view.text) <= 4 * SEGMENT_PAD * 2:
        whole = undo(view)
        return [whole] if whole is not None else []
    regions: list[list[int]] = []
    for s, e in sorted(spans):
        s, e = max(0, s - SEGMENT_PAD), min(len(view.text), e + SEGMENT_PAD)
        if regions and s <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], e)
        else:
            regions.append([s, e])
    if len(regions) > MAX_SEGMENTS:
        whole = undo(view)
        return [whole] if whole is not None else []
    return [v for s, e in regions if (v := undo(_sub(view, s, e))) is not None]


def _leet_spans(text: str) -> list[tuple[int, int]]:
    """Words mixing letters with leet digits or symbols (the only ones _deleet changes)."""
    if not _LEET_HINT.search(text):
        return []
    return [m.span() for m in _LEET_WORD.finditer(text) if not (m.group(0).isdigit() or m.group(0).isalpha())]


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
