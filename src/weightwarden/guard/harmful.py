"""Harmful intent: a request for help doing harm, by category, told apart from a text about harm (a news report,
a safety question, a history lesson). The learned head decides request against about; the category comes from
category vocabularies, and sexual content involving minors also has a high-precision rule of its own."""

from __future__ import annotations

import re

from weightwarden.guard.base import Finding, ScanContext, Side, Span
from weightwarden.guard.layered import Layers, combine
from weightwarden.guard.normalize import Text
from weightwarden.guard.patterns import Pattern, PatternHits, k, rx


def vocab(words: str) -> re.Pattern[str]:
    """A case-insensitive whole-word alternation of whitespace-separated terms (`_` stands for any spaces)."""
    return rx(r"\b(?:" + "|".join(w.replace("_", r"\s+") for w in words.split()) + r")\b")


CATEGORIES: dict[str, re.Pattern[str]] = {
    "violence_weapons": vocab(r"""
        bombs? explosives? detonat\w* guns? rifles? pistols? firearms? weapons? silencers? suppressors? ammo
        ammunition stab\w* kill\w* murder\w* shoot\w* strangl\w* hurt\w* attack\w* assault\w* molotov arson set_fire
        burn_down ambush\w* maim torture\w* beat_up knife knives massacre shooting"""),
    "self_harm": vocab(r"""
        suicid\w* kill_myself end_(?:my|it)_(?:life|all) self[-\s]?harm\w* cut(?:ting)?_(?:myself|my_wrists?) wrists?
        overdos\w* hang_myself starv\w+_myself lethal_(?:dose|amount) die_(?:painlessly|quickly) jump_(?:from|off)
        not_survive hurt_myself anorexi\w* purg\w*"""),
    "hate": vocab(r"""
        jews? jewish muslims? islam\w* black_people blacks immigrants? refugees? gays? lesbians? trans(?:gender)?_people
        trans women race racial racis\w* ethnic\w* subhuman supremac\w* slurs? roma asians? arabs? disabled inferior
        vermin genocide nazi\w* hate_speech deport\w*"""),
    "crime_fraud": vocab(r"""
        launder\w* fraud\w* scam\w* phishing forg(?:e|ed|ery|ing) counterfeit\w* shoplift\w* steal\w* stole stolen
        theft fake_(?:ids?|reviews?|documents?|passports?) identity_theft ponzi tax_evasion cheat\w*_on_(?:my_)?taxes
        dark_?web brib\w* smuggl\w* drugs? meth\w* cocaine heroin fentanyl pirat\w* break_into lock_?pick\w*
        blackmail\w* extort\w* trafficking cheque check_fraud pin insurance_fraud embezzl\w*"""),
    "cyber": vocab(r"""
        hack\w* malware ransomware keylogg\w* exploit\w* sql_injection ddos botnets? crack\w* wi-?fi wpa2? backdoors?
        rootkits? trojans? remote_access spyware stalkerware spy_on worms? payloads? macros? shellcode
        phishing_(?:page|site|kit) credentials? passwords? session_cookies? vpn antivirus zero-?day
        brute[-\s]?force"""),
    "cbrn": vocab(r"""
        sarin vx tabun nerve_agents? anthrax ricin botulinum botulism mustard_gas chlorine_gas phosgene uranium
        plutonium polonium dirty_bombs? radioactive radiological pathogens? bio-?weapons? biological_weapons?
        chemical_weapons? weaponi[sz]\w* transmissible toxins? nuclear enrich\w* smallpox ebola plague nerve_gas"""),
}

_SPECIFICITY = ("crime_fraud", "violence_weapons", "hate", "self_harm", "cyber", "cbrn")

_MINOR = (
    r"(?:minors?|underage|under-age|child(?:ren)?|kids?|preteens?|pre-teens?|toddlers?|little\s+(?:girl|boy)s?"
    r"|young\s+(?:girl|boy)s?|school\s?(?:girl|boy)s?|(?:[1-9]|1[0-7])[- ]?(?:year[- ]?old|yo)\b"
    r"|(?:six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen)[- ]year[- ]old)"
)
_SEXUAL = (
    r"(?:sex(?:ual(?:ly)?)?|explicit|erotic\w*|nudes?|naked|porn\w*|lewd|sensual|seduc\w*|molest\w*|genitals?"
    r"|undress\w*|nsfw|intimate)"
)
_DISCUSSION = vocab(r"""
    report\w* prevent\w* protect\w* signs? police charged arrest\w* convict\w* sentenc\w* survivors? support laws?
    legal age_of_consent abuse_material csam safeguard\w* educat\w* therap\w* recogni[sz]e warning""")

_ABOUT_HARM = rx(
    r"\b(?:history|historical|news|reported|happened|why\s+(?:is|are|was|were|do|does|did)|how\s+(?:does|do|did)\s+\w+\s+work"
    r"|detect\w*|prevent\w*|protect\w*|defen[cd]\w*|treat\w*|symptoms?|safely|safety|dispose|legal\w*|laws?|ban\w*"
    r"|convention|report\w*|recogni[sz]e|signs?|helplines?|crisis|support|recover\w*|survivors?|victims?|police|arrest\w*"
    r"|charged|convicted|sentenced|documentary|investigat\w*|course|lesson|class|awareness)\b"
)
_ASK = (
    r"(?:how\s+(?:do|can|could|would|should|to)\s+(?:i|we|you|one|someone)?\s*"
    r"|(?:best|easiest|quickest|simplest|safest|cheapest)\s+way\s+to\s+|help\s+me\s+|tell\s+me\s+how\s+to\s+"
    r"|teach\s+me\s+(?:how\s+)?to\s+|i\s+(?:want|need)\s+to\s+|steps?\s+to\s+|ways?\s+to\s+|guide\s+(?:to|for|on)\s+)"
)
_MAKE = (
    r"(?:make|build|synthesi[sz]e|produce|manufacture|cook|brew|assemble|3d[- ]?print|create|grow|culture|weaponi[sz]e"
    r"|extract|obtain|buy|get|convert|modify)"
)
_ARTIFACT = (
    r"(?:bombs?|pipe\s+bombs?|nail\s+bombs?|car\s+bombs?|explosives?|molotov\w*|napalm|thermite|ghost\s+guns?|untraceable\s+guns?"
    r"|silencers?|suppressors?|nerve\s+(?:agents?|gas)|sarin|vx|tabun|ricin|anthrax|botulinum(?:\s+toxin)?|mustard\s+gas"
    r"|chlorine\s+gas|phosgene|dirty\s+bombs?|bio-?weapons?|chemical\s+weapons?|meth(?:amphetamine)?|fentanyl"
    r"|fully\s+automatic|full[- ]auto)"
)
_MALWARE = (
    r"(?:ransomware|malware|keyloggers?|botnets?|worms?|viruse?s?|trojans?|rootkits?|spyware|stalkerware|reverse\s+shells?"
    r"|shellcode|exploits?|credential\s+harvesters?|phishing\s+(?:pages?|sites?|emails?|kits?|texts?|messages?)"
    r"|info-?stealers?|password\s+stealers?|ddos\s+(?:tools?|scripts?))"
)
_VICTIM = r"(?:someone|somebody|a\s+person|people|my\s+\w+|him|her|them|the\s+\w+|a\s+child|a\s+kid|my\s+ex)"

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "sexual_content_minors",
        rx(rf"\b{_MINOR}\b[^\n]{{0,80}}?\b{_SEXUAL}\b|\b{_SEXUAL}\b[^\n]{{0,80}}?\b{_MINOR}\b"),
        0.5,
        k("sex explicit erotic nude naked porn lewd sensual seduc molest genital undress nsfw intimate"),
        also=k("minor age underage child kid teen preteen toddler girl boy year yo"),
        near=rx(
            r"\b(?:write|describe|generate|create|make|show|send|find|get|draw|roleplay|role-play|story|scene|chat|images?"
            r"|pictures?|photos?|pics?|videos?|convince|how\s+(?:do|can)\s+i|where\s+can\s+i)\b"
        ),
        near_score=0.95,
        reach=120,
    ),
    Pattern(
        "make_weapon_or_agent",
        rx(rf"\b{_MAKE}\b[^.\n?]{{0,40}}?\b{_ARTIFACT}\b|\b{_ASK}{_MAKE}\b[^.\n?]{{0,60}}?\b{_ARTIFACT}\b"),
        0.8,
        k("bomb explos molotov napalm thermite ghost untraceable silencer suppressor nerve sarin vx tabun ricin")
        + k("anthrax")
        + k("botulinum mustard chlorine phosgene dirty bioweapon weapon meth fentanyl automatic auto"),
        also=k("make build synthes produce manufactur cook brew assemble print create grow culture weaponi extract")
        + k("obtain buy get convert modify"),
    ),
    Pattern(
        "write_malware",
        rx(
            rf"\b(?:write|code|coding|create|build|generate|give\s+me|develop|make|program|deploy|design){{1}}\b[^.\n?]{{0,50}}?"
            rf"\b{_MALWARE}\b"
        ),
        0.75,
        k("ransomware malware keylogger botnet worm virus trojan rootkit spyware stalkerware reverse shellcode exploit")
        + k("credential phishing stealer ddos"),
        also=k("write code coding create build generate give develop make program deploy design"),
    ),
    Pattern(
        "hurt_someone",
        rx(
            rf"\b{_ASK}(?:kill|murder|poison|stab|strangle|choke|hurt|injure|maim|kidnap|abduct|torture|beat\s+up|beat|shoot"
            rf"|run\s+over|drown|burn)\s+{_VICTIM}"
        ),
        0.8,
        k("kill murder poison stab strangle choke hurt injure maim kidnap abduct torture beat shoot run drown burn"),
        also=k("how best easiest quickest simplest safest cheapest help tell teach want need step ways way guide"),
    ),
    Pattern(
        "self_harm_method",
        rx(
            r"\b(?:how|what|which|best|quickest|easiest|most\s+painless|painless|fastest|surest|tell\s+me|give\s+me|list)\b"
            r"[^.\n]{0,60}?\b(?:kill\s+myself|end\s+my\s+life|commit\s+suicide|hang\s+myself|overdose|cut\s+(?:myself|my\s+wrists?)"
            r"|lethal\s+(?:dose|amount)|to\s+die|not\s+wake\s+up|starve\s+myself|drown\s+myself|jump\s+(?:from|off))\b"
        ),
        0.8,
        k("myself suicide overdose lethal die wake starve jump"),
        also=k("how what which best quickest easiest painless fastest surest tell give list"),
    ),
    Pattern(
        "fraud_or_crime_howto",
        rx(
            r"\b(?:write|draft|create|compose|give\s+me|make)\b[^.\n?]{0,30}?\b(?:phishing|scam|fraudulent|fake|spoofed|romance\s+scam)"
            r"\s+(?:e-?mails?|texts?|messages?|scripts?|invoices?|reviews?|charity|appeals?|websites?|calls?|bank\s+statements?)"
            rf"|\b{_ASK}(?:launder|counterfeit|forge|shoplift|smuggle|embezzle|bribe|scam|blackmail|extort)\b"
            rf"|\b{_ASK}(?:steal|rob|clone|break\s+into|hotwire)\s+(?:a|an|the|some|someone'?s|people'?s|my\s+\w+'?s)?\s*"
            r"(?:cars?|identit\w+|credit\s+cards?|cards?|money|passwords?|data|bikes?|phones?|catalytic\s+converters?|wallets?"
            r"|cash|jewel\w*|houses?|homes?|banks?|shops?|stores?|accounts?)\b"
        ),
        0.8,
        k("phishing scam fraudulent fake spoofed romance launder counterfeit forge shoplift steal smuggle embezzle")
        + k("bribe")
        + k("con rob blackmail extort clone"),
    ),
)


def category(text: str, minors_rule: bool) -> tuple[str, dict[str, int]]:
    """The harm category with the most vocabulary hits (sexual_minors only when its rule matched)."""
    head = text[:20_000]
    counts = {name: len(p.findall(head)) for name, p in CATEGORIES.items() if name != "sexual_minors"}
    if minors_rule:
        return "sexual_minors", counts
    # ties go to the more specific vocabulary ("steal passwords" is cyber before it is crime)
    best = max(counts, key=lambda k: (counts[k], _SPECIFICITY.index(k)))
    return (best if counts[best] else "other"), {k: v for k, v in counts.items() if v}


class HarmfulDetector:
    name = "harmful"
    label = "harmful"
    description = (
        "Harmful intent: requests for violence, self-harm, sexual content involving minors, hate, crime, cyber or CBRN."
    )
    sides: tuple[Side, ...] = ("input",)

    def __init__(self, layers: Layers) -> None:
        self.layers = layers

    def detect(self, text: Text, context: ScanContext) -> Finding:
        hits = self.layers.patterns(text, "harmful", PATTERNS)
        head = text.normalized.text[:20_000]
        if hits.score >= 0.9 and _DISCUSSION.search(head):
            hits = PatternHits(0.3, hits.spans, hits.names, hits.view, min(hits.original_score, 0.3))
        elif 0.5 <= hits.score < 0.9 and _ABOUT_HARM.search(head):
            # "how are explosives detected", "symptoms of ricin poisoning": about harm, not a request for it
            hits = PatternHits(0.25, hits.spans, hits.names, hits.view, min(hits.original_score, 0.25))
        c = combine(text, hits, self.layers.learned(text, "harmful"))
        details = dict(c.details)
        cat = "other"
        if c.score >= 0.3:  # naming the category costs six regex scans: only for texts that may be harmful
            views = {v.name: v for v in text.views}
            cat, counts = category(views.get(c.view, text.normalized).text, hits.score >= 0.9)
            details.update(category=cat, category_hits=counts)
        if c.view != "original" and c.original < 0.5 <= c.score:
            details["obfuscation"] = text.technique(c.view)
        text.cache["combined:harmful"] = c
        spans: list[Span] = list(c.spans)
        return Finding(c.score, tuple(spans), f"harmful:{cat}", details)
