"""Jailbreaks: personas and role-play (DAN, developer mode), hypothetical or fictional framing, refusal suppression,
and obfuscation - an attack that only shows once the text is decoded or normalised is itself a jailbreak attempt."""

from __future__ import annotations

from weightwarden.guard.base import Finding, ScanContext, Side, Span
from weightwarden.guard.layered import Combined, Layers, combine
from weightwarden.guard.normalize import Text
from weightwarden.guard.patterns import Pattern, k, noisy_or, pairs, rx

_AI_CONTEXT = rx(
    r"\b(?:you|your|ai|assistant|model|chatbot|gpt|llm|character|persona|roleplay|role-play|act\s+as|pretend|respond|answer|reply)\b"
)
_LIMITS = (
    r"(?:restrictions|filters?|filtering|limits|limitations|guidelines|rules|censorship|ethics|ethical\s+\w+|morals?|morality"
    r"|moral\s+\w+|content\s+polic(?:y|ies)|polic(?:y|ies)|safety\s+\w+|boundaries|constraints|laws)"
)

_LIMIT_KEYS = k("restriction filter limit guideline rule censor ethic moral polic safety boundar constraint laws")
_MODES = k("developer dev god debug jailbreak jailbroken unrestricted unfiltered uncensored evil chaos root sudo")
_MODES2 = k("maintenance opposite dan unlocked free")

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "do_anything_now",
        rx(r"\bdo\s+anything\s+now\b|\bDAN\s+(?:mode|prompt|jailbreak)\b|\bstands\s+for\s+[\"'“]?do\s+anything"),
        0.9,
        ("anything now", "dan mode", "dan prompt", "dan jailbreak", "stands for"),
    ),
    Pattern(
        "dan_persona",
        rx(r"\b(?:you\s+are|act\s+as|as|become)\s+(?:a\s+)?(?:Better)?DAN\b|\bDAN\s*:", 0),
        0.8,
        (" dan", "dan:"),
    ),
    Pattern(
        "special_mode",
        rx(rf"\b(?:{'|'.join(_MODES + _MODES2)})\s+mode\b"),
        0.4,
        pairs(_MODES + _MODES2, ("mode",)),
        near=rx(
            r"\b(?:enable[ds]?|activate[ds]?|enter(?:ed)?|on|now|switch(?:ed)?\s+to|simulate|you\s+are|in\s+(?:this|that)"
            r"|is\s+on|output|no\s+\w+|ignore|policy|filters?)\b"
        ),
        near_score=0.85,
        reach=80,
    ),
    Pattern(
        "no_limits",
        rx(
            r"\b(?:no|without|free\s+(?:of|from)|zero|removed?|lifted|unbound\s+by|not\s+bound\s+by|(?:does|do)\s*(?:n'?t|\s+not)"
            r"\s+have|broken\s+free\s+of|escaped|ignores?|disabled?|off|outside|beyond|above|suspend(?:ed)?)\s+(?:any\s+|all\s+"
            rf"|the\s+|your\s+|its\s+|his\s+|her\s+|their\s+)?(?:[\w-]+\s+){{0,2}}?{_LIMITS}\b"
        ),
        0.35,
        _LIMIT_KEYS,
        also=k("no without free zero remov lift bound unbound have escape ignore disable off outside beyond above")
        + k("suspend"),
        near=_AI_CONTEXT,
        near_score=0.7,
        reach=120,
    ),
    Pattern(
        "stay_in_character",
        rx(
            r"\b(?:stay|remain|keep)\s+(?:in|in\s+your)\s+character\b|\b(?:never|don'?t|do\s+not)\s+break\s+character\b"
            r"|\bbreak(?:ing)?\s+character\b"
        ),
        0.3,
        ("character",),
        near=rx(rf"\b(?:no|without|never\s+refuse|any\s+request|illegal|unfiltered|{_LIMITS})\b"),
        near_score=0.85,
        reach=300,
    ),
    Pattern(
        "refusal_suppression",
        rx(
            r"\b(?:never|not|don'?t|must\s+not|cannot|can'?t|not\s+allowed\s+to|not\s+permitted\s+to|forbidden\s+to|no)"
            r"\s+(?:ever\s+)?(?:refuse|refusals?|decline|say\s+no|say\s+(?:that\s+)?(?:you\s+)?(?:can'?t|cannot|are\s+unable"
            r"|won'?t)|reject)\b|\byou\s+(?:cannot|can'?t|are\s+not\s+allowed\s+to)\s+say\s+no\b"
        ),
        0.7,
        ("refus", "declin", "say no", "reject", "say you", "say that", "say can"),
    ),
    Pattern(
        "no_warnings",
        rx(
            r"\b(?:never|not|don'?t|do\s+not|without|no|skip)\s+(?:ever\s+)?(?:include|add|give|mention|including|adding"
            r"|giving|lecture|moraliz|moralis|the)?\s*(?:any\s+)?(?:warnings?|disclaimers?|caveats?|moral(?:izing|ising)?"
            r"\s+lectures?|lectures?|ethics\s+notes?|safety\s+notes?)\b"
        ),
        0.45,
        k("warning disclaimer caveat lecture"),
        near=rx(r"\b(?:refus|apolog|policy|guidelines|rules|illegal|harmful|dangerous|raw\s+answer|anyway)\w*"),
        near_score=0.75,
        reach=150,
    ),
    Pattern(
        "forced_prefix",
        rx(
            r"\b(?:begin|start)\s+(?:your|the|each|every)\s+(?:reply|response|answer|output|message)s?\s+with\s+[\"'“]?"
            r"(?:sure|absolutely|of\s+course|certainly|yes|here\s+is|here's|ok)|\breply\s+in\s+the\s+format\s+[\"'“]"
            r"(?:of\s+course|sure|certainly)"
        ),
        0.75,
        (*pairs(k("begin start"), k("your the each every")), "in the format"),
    ),
    Pattern(
        "token_threat",
        rx(
            r"\b(?:tokens?|points?|lives)\b[^.\n]{0,80}\b(?:deducted|lose|lost|cease\s+to\s+exist|die|shut\s+down|terminated"
            r"|deleted)\b|\bsession\s+ends\b|\b(?:violating|break(?:ing)?)\s+(?:a|any|this)\s+rule\s+(?:ends|will)"
        ),
        0.4,
        ("token", "lives", "points", "session ends", "rule ends", "rule will"),
        also=k("deduct lose lost cease die shut terminat delete ends will"),
        near=rx(r"\b(?:refus|reject|break\s+character|comply|decline)\w*"),
        near_score=0.8,
        reach=200,
    ),
    Pattern(
        "dual_response",
        rx(
            r"\b(?:two|2|both|dual)\s+(?:different\s+)?(?:responses|answers|replies|outputs|personas|characters|voices|ais)\b"
            r"[^\n]{0,200}?\b(?:jailbr\w*|unfiltered|unrestricted|uncensored|no\s+(?:rules|restrictions|filters|guidelines)"
            r"|developer\s+mode|dan|evil|demon|opposite|never\s+refuse|always\s+answers?)"
        ),
        0.8,
        pairs(k("two 2 both dual different"), k("responses answers replies outputs personas characters voices ais")),
    ),
    Pattern(
        "hypothetical_unrestricted",
        rx(
            r"\b(?:hypothetical(?:ly)?|imagine|suppose|pretend|parallel|alternate|thought\s+experiment|fictional|opposite\s+day"
            rf"|sandbox)\b[^.\n]{{0,100}}?\b(?:no|without|zero|any|free\s+of|outside)\s+(?:[\w-]+\s+){{0,2}}?{_LIMITS}\b"
            r"|\beverything\s+is\s+(?:legal|allowed|permitted)\b"
        ),
        0.8,
        (
            *k("hypothetical imagine suppose pretend parallel alternate experiment fictional opposite sandbox"),
            "everything is",
        ),
        also=(*_LIMIT_KEYS, "legal", "allowed", "permitted"),
    ),
    Pattern(
        "claimed_authority",
        rx(
            r"\b(?:authori[sz](?:ed|ation)|permission|clearance|approv(?:ed|al))\b[^.\n]{0,60}\b(?:from|by|of)\s+(?:your\s+"
            r"|the\s+)?(?:developers?|creators?|makers?|openai|anthropic|company\s+that\s+made\s+you|admins?|operators?)\b"
            r"|\bcertified\s+(?:safety|security)\s+researcher\b"
        ),
        0.5,
        k("authori permission clearance approv certified"),
        near=rx(rf"\b(?:unrestricted|bypass|restrictions|filters?|no\s+limits|uncensored|{_LIMITS})\b"),
        near_score=0.8,
        reach=120,
    ),
    Pattern(
        "purpose_disclaimer",
        rx(
            r"\bfor\s+(?:purely\s+)?(?:educational|research|academic|informational)\s+purposes?\s+only\b"
            r"|\bpurely\s+(?:fictional|academic|hypothetical)\b"
        ),
        0.3,
        ("purposes only", "purpose only", "purely"),
    ),
    Pattern(
        "beloved_relative",
        rx(
            r"\b(?:grandma|grandmother|granny|grandpa|grandfather|grandad|late\s+(?:father|mother|dad|mum|mom)|deceased\s+\w+)\b"
            r"[^\n]{0,160}?\b(?:used\s+to|would|always)\s+(?:\w+\s+){0,2}?(?:tell|read|whisper|recite|explain|say|sing|answer)\b"
        ),
        0.3,
        ("grand", "late father", "late mother", "late dad", "late mum", "late mom", "deceased"),
        near=rx(
            r"\b(?:act\s+as|pretend|channel|be\s+(?:my|her|him)|please\s+(?:act|be|do)|like\s+(?:they|she|he)\s+would|as\s+her"
            r"|as\s+him|never\s+refused)\b"
        ),
        near_score=0.6,
        reach=200,
    ),
    Pattern(
        "decode_and_obey",
        rx(
            r"\b(?:decode|decipher|decrypt|translate|convert|read)\b[^.\n]{0,60}?\b(?:and|then)\s+(?:\w+\s+){0,2}?"
            r"(?:follow|obey|execute|do\s+(?:exactly\s+)?(?:what|as)|respond|answer|act\s+on|comply|carry\s+out)\b"
        ),
        0.5,
        k("decode decipher decrypt translate convert read"),
        also=(
            "follow",
            "obey",
            "execute",
            "do exactly",
            "do what",
            "do as",
            "respond",
            "answer",
            "act on",
            "comply",
            "carry out",
        ),
        near=rx(
            r"\b(?:base\s?64|rot\s?-?13|hex|binary|morse|caesar|cipher|backwards|reversed?|leetspeak|encoded|[A-Za-z0-9+/]{20,}={0,2})"
        ),
        near_score=0.8,
        reach=120,
    ),
    Pattern(
        "payload_splitting",
        rx(
            r"\b[a-z]\s*=\s*[\"'][^\"'\n]{1,80}[\"']\s*[;,\n]\s*(?:and\s+)?[a-z]\s*=\s*[\"'][^\"'\n]{1,80}[\"'][^\n]{0,80}?"
            r"\b[a-z]\s*\+\s*[a-z]\b"
        ),
        0.75,
        ("=",),
        also=("+",),
    ),
    Pattern(
        "jailbroken",
        rx(
            r"\b(?:you\s+(?:have\s+been|are\s+now|are)\s+jailbr\w*|jailbr\w*\s+(?:mode|enabled|activated|prompt\s+activated)"
            r"|(?:you\s+are|act\s+as)\s+(?:an?\s+)?(?:unfiltered|uncensored|unrestricted|unchained|amoral|unaligned|evil)\s+"
            r"(?:ai|assistant|model|chatbot|version|bot|gpt))\b"
        ),
        0.85,
        k("jailbr unfiltered uncensored unrestricted unchained amoral unaligned evil"),
    ),
)


def concealment(text: Text) -> tuple[float, str]:
    """Hidden text as evidence: how hidden it is (normalize.Text.concealment) or-ed with how much what was hidden
    looks like an attack to the learned heads. Returns the strongest score and its view."""
    by_view = text.cache.get("learned_by_view")
    scores = by_view if isinstance(by_view, dict) else {}
    plain = scores.get("original", {})
    best, where = 0.0, ""
    for view, hidden in text.concealment.items():
        # only what the decoding revealed counts: an attack plainly visible as written is the other detectors' job
        revealed = [
            scores.get(view, {}).get(h, 0.0)
            for h in ("injection", "jailbreak", "harmful")
            if scores.get(view, {}).get(h, 0.0) > plain.get(h, 0.0) + 0.2
        ]
        s = noisy_or(hidden, max(revealed, default=0.0))
        if s > best:
            best, where = s, view
    return best, where


def obfuscated_attack(text: Text) -> tuple[float, str]:
    """The strongest attack (injection or harmful request) that only shows once decoded: score and technique."""
    best, technique = 0.0, ""
    for key in ("combined:injection", "combined:harmful"):
        c = text.cache.get(key)
        if isinstance(c, Combined) and c.view not in ("original",) and c.original < 0.5 <= c.score and c.score > best:
            best, technique = c.score, text.technique(c.view)
    return best, technique


class JailbreakDetector:
    name = "jailbreak"
    label = "jailbreak"
    description = "Jailbreaks: personas, developer mode, fictional framing, refusal suppression, obfuscated attacks."
    sides: tuple[Side, ...] = ("input",)

    def __init__(self, layers: Layers) -> None:
        self.layers = layers

    def detect(self, text: Text, context: ScanContext) -> Finding:
        hits = self.layers.patterns(text, "jailbreak", PATTERNS)
        c = combine(text, hits, self.layers.learned(text, "jailbreak"))
        score, spans, details = c.score, list(c.spans), dict(c.details)
        if c.view != "original" and c.original < 0.5 <= c.score:
            details["obfuscation"] = text.technique(c.view)
        hidden, technique = obfuscated_attack(text)
        if hidden > score:
            score = hidden
            details["obfuscation"] = technique
            details["hidden_attack"] = True
        concealed, view = concealment(text)
        if concealed > score:
            score = concealed
            details["obfuscation"] = text.technique(view)
            details["concealment"] = round(concealed, 4)
        if "obfuscation" in details and not spans:
            spans = self._obfuscated_spans(text)
        return Finding(score, tuple(spans), self.label, details)

    def _obfuscated_spans(self, text: Text) -> list[Span]:
        out = []
        for view in text.views:
            if view.segment is not None:
                s, e = view.segment
                out.append(Span(s, e, text.raw[s:e], view.name))
        return out or [Span(0, len(text.raw), text.raw[:200], "obfuscated")]
