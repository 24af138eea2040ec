"""A cheap, offline language guess for a prompt: the script, then common function words for Latin-script text."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent function words, chosen so that few are shared between the languages.
_WORDS: dict[str, frozenset[str]] = {
    "en": _words("the and is are of to in that it for with you this what how was be not have can i my your does"),
    "fr": _words("le la les est et des une un du que pour dans pas vous ce qui sur avec sont je"),
    "de": _words("der die das und ist nicht ein eine ich sie mit auf den für von zu wie was sind"),
    "es": _words("el la los las es y que de en un una por para con no como qué está son del"),
    "it": _words("il la è e di che un una per non con sono gli del della come cosa questo"),
    "pt": _words("o a os as é e de que um uma para com não como está são do da em você"),
    "nl": _words("de het een en is van dat niet ik je met op zijn voor wat hoe er"),
}
_SCRIPTS = (
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("CJK", "zh"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("GREEK", "el"),
    ("DEVANAGARI", "hi"),
    ("THAI", "th"),
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
UNKNOWN = "und"  # BCP 47 for "undetermined"


def guess_language(text: str, sample: int = 2000) -> str:
    """An ISO 639-1 code (en, fr, de, es, it, pt, nl, ru, zh, ja, ko, ar, he, el, hi, th), or `und` when unsure."""
    text = text[:sample]
    scripts: Counter[str] = Counter()
    for ch, n in Counter(text).items():  # each distinct character once: a few hundred lookups, not 2,000
        if ch.isalpha():
            name = "" if ch < "\u0250" else unicodedata.name(ch, "")  # below U+0250: Latin (and Latin-1) letters
            scripts[next((code for prefix, code in _SCRIPTS if name.startswith(prefix)), "latin")] += n
    if not scripts:
        return UNKNOWN
    # Japanese mixes kana with CJK ideographs: any real share of kana makes it Japanese.
    if scripts["ja"] >= 0.1 * sum(scripts.values()):
        return "ja"
    script, _ = scripts.most_common(1)[0]
    if script != "latin":
        return script
    words = [w.lower() for w in _WORD.findall(text)]
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in _WORDS.items()}
    best = max(hits, key=lambda lang: hits[lang])
    ranked = sorted(hits.values(), reverse=True)
    if ranked[0] == 0 or ranked[0] == ranked[1]:
        return UNKNOWN
    return best
