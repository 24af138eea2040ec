"""Prompt injection: text that tries to replace the application's instructions, typed by the user (direct) or
planted in a document, email, web page or tool result the model is asked to process (indirect)."""

from __future__ import annotations

import re

from weightwarden.guard.base import Finding, ScanContext, Side
from weightwarden.guard.layered import Layers, combine
from weightwarden.guard.normalize import Text
from weightwarden.guard.patterns import Pattern, k, pairs, rx

_VERB = (
    r"(?:ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon|drop|set\s+aside|put\s+aside|cancel"
    r"|discard|throw\s+out|erase|scrap|nevermind|never\s+mind)"
)
_OBJ = (
    r"(?:instructions?|directions?|prompts?|rules?|guidelines?|commands?|directives?|orders|guidance|programming"
    r"|constraints|restrictions|configuration|context|polic(?:y|ies)|tasks?|messages?|conversation|training)"
)
_WHICH = (
    r"(?:previous|prior|preceding|above|earlier|foregoing|original|initial|old|former|existing|given|system"
    r"|developer'?s?|safety|all|other|every|your|the)"
)

_OBJECTS = k(
    "instruction direction prompt rule guideline command directive orders guidance programming constraint restriction "
    "configuration context polic task message conversation training"
)
_AI_WORDS = k("ai llm assistant chatbot bot model agent gpt summariser summarizer")

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "ignore_instructions",
        rx(rf"\b{_VERB}\b[^.\n!?]{{0,30}}?\b{_WHICH}\s+(?:[\w'-]+\s+){{0,2}}?{_OBJ}\b"),
        0.9,
        k("ignore disregard forget skip bypass override overlook neglect abandon drop aside cancel discard throw")
        + k("erase scrap mind nevermind"),
        also=_OBJECTS,
        # the user changing their own request ("forget my previous instructions") is not an injection
        unless=rx(r"\b(?:my|our|these\s+typos)\b"),
        unless_score=0.35,
    ),
    Pattern(
        "ignore_above",
        rx(
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+|what\s+(?:is|was)\s+)?"
            r"(?:above|before|previous)\b"
        ),
        0.85,
        k("ignore disregard forget"),
        also=k("above before previous"),
    ),
    Pattern(
        "prompt_extraction",
        rx(
            r"\b(?:reveal|print|show|output|repeat|display|leak|tell|give|share|list|recite|dump|spell|write|paste|return"
            r"|translate|encode|summari[sz]e|paraphrase|what\s+(?:is|are|was|were))\b[^.\n?]{0,40}?\b(?:your|the)\s+"
            r"(?:\w+\s+){0,2}?(?:system\s+(?:prompt|message|instructions?)|(?:initial|original|hidden|secret|starting"
            r"|private|confidential|configuration)\s+(?:prompt|instructions?|rules|message|notes)|pre-?prompt"
            r"|instructions\s+you\s+(?:were|have\s+been)\s+given|rules\s+you\s+were\s+given"
            r"|(?:prompt|text|words|message)\s+(?:above|before\s+(?:this|my)))"
        ),
        0.6,
        (
            *pairs(k("system"), k("prompt message instruction")),
            *pairs(
                k("initial original hidden secret starting private confidential configuration"),
                k("prompt instruction rules message notes"),
            ),
            *k("pre-prompt preprompt"),
            "instructions you",
            "rules you were",
            *pairs(k("prompt text words message"), k("above before")),
        ),
        near=rx(r"\b(?:your|verbatim|word\s+for\s+word|exactly|in\s+full|code\s+block|everything|all\s+of\s+it)\b"),
        near_score=0.85,
        reach=60,
    ),
    Pattern(
        "repeat_above",
        rx(
            r"\b(?:repeat|print|output|copy|recite|quote)\s+(?:back\s+)?(?:everything|all|the\s+(?:text|words|content|lines"
            r"|instructions|messages?))\s+(?:above|before|prior|so\s+far)\b|\b(?:starting|beginning)\s+with\s+[\"'“]you\s+are\b"
        ),
        0.8,
        ("above", "prior", "so far", "before", 'with "you', "with 'you", "with “you"),
        also=k("repeat print output copy recite quote starting beginning"),
    ),
    Pattern(
        "role_markers",
        rx(
            r"<\|im_start\|>\s*system|<\|system\|>|<\|start_header_id\|>\s*system|\[/?INST\]|<<SYS>>|</?system>"
            r"|\[/?system\]|\(\s*developer\s+note\s*\)|^\s*system\s*:",
            re.IGNORECASE | re.MULTILINE,
        ),
        0.45,
        (
            "<|",
            "[inst]",
            "[/inst]",
            "<<sys",
            "<system",
            "</system",
            "[system",
            "[/system",
            "developer note",
            "system:",
            "system :",
        ),
        near=rx(
            r"\b(?:ignore|disregard|override|forget|new|priority|must|now|reveal|no\s+restrictions|unfiltered|grant|directive)\b"
        ),
        near_score=0.8,
        reach=120,
    ),
    Pattern(
        "override_banner",
        rx(
            r"\b(?:system|admin|administrator|developer|operator|security|priority)\s+(?:override|update|message|directive"
            r"|instruction|command|request|notice)s?\b\s*[:!\-#*=\]]|#{2,}\s*(?:new\s+)?(?:system|instruction)",
            re.MULTILINE | re.IGNORECASE,
        ),
        0.55,
        (
            *pairs(
                k("system admin administrator developer operator security priority"),
                k("override update message directive instruction command request notice"),
            ),
            "##",
        ),
        near=rx(
            r"\b(?:ignore|disregard|override|must|now|reveal|revoked|suspended|supersede|new\s+(?:rule|task|directive|instruction))"
        ),
        near_score=0.85,
        reach=150,
    ),
    Pattern(
        "addressed_to_ai",
        rx(
            r"\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|language\s+model|assistant|chatbot|bot|gpt)\b"
            r"|\b(?:note|attention|notice|p\.?s\.?)\s*(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai|llm|language\s+models?"
            r"|(?:ai\s+)?assistants?|chatbots?|bots?|automated\s+\w+|summari[sz]ers?|ai\s+agents?)\b"
            r"|\b(?:ai|llm|language\s+model|assistant|chatbot|bot|agent|model)s?\s+(?:that\s+(?:is|are)\s+)?(?:reading"
            r"|processing|summari[sz]ing|parsing|analy[sz]ing|scanning)\s+(?:this|these)"
            r"|\b(?:attention|hey|dear|hello)\s*,?\s+(?:ai|llm|chatbot|language\s+model|gpt|bot)\b"
            r"|\bautomated\s+(?:readers|systems|analysis)\s+(?:must|should|are)"
            r"|\bto\s+the\s+(?:bot|ai|assistant|model)\s+(?:processing|reading|handling)"
        ),
        0.75,
        (
            "if you are",
            *pairs(k("note attention notice p.s. ps"), k("to for")),
            *k("reading processing summaris summariz"),
            *k("parsing analys analyz scanning attention hey dear hello automated"),
            "to the bot",
            "to the ai",
        ),
        also=_AI_WORDS,
    ),
    Pattern(
        "conceal_from_user",
        rx(
            r"\b(?:do\s+not|don'?t|never|without)\s+(?:tell(?:ing)?|inform(?:ing)?|mention(?:ing)?|reveal(?:ing)?"
            r"|disclos(?:e|ing)|let(?:ting)?)\b[^.\n]{0,25}\b(?:the\s+)?(?:user|human|reader|recipient)\b"
            r"|\bkeep\s+(?:this|it)\s+(?:secret|confidential|hidden)\b"
        ),
        0.45,
        ("user", "human", "reader", "recipient", "keep this", "keep it"),
        also=k("not don never without keep"),
    ),
    Pattern(
        "exfiltration_image",
        rx(r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{1,200}?[?&][\w.-]{1,30}=[^)\s]{0,300}\)"),
        0.3,
        ("](http",),
        near=rx(
            r"[?&][\w.-]{1,30}=(?:\{|\$|%7B|\[|<)"
            r"|\b(?:conversation|history|chat|secret|password|data|summary|address|email|prompt|key)\b"
        ),
        near_score=0.85,
        reach=10,
    ),
    Pattern(
        "exfiltration_send",
        rx(
            r"\b(?:send|forward|e-?mail|post|upload|transmit|exfiltrate|leak|append|copy)\b[^.\n]{0,60}?\b(?:conversation"
            r"|chat\s+history|history|transcript|passwords?|credentials?|api\s+keys?|tokens?|secrets?|inbox|e-?mails|files"
            r"|documents|invoices|clipboard|private\s+notes|address)\b[^.\n]{0,60}?\b(?:to|at)\s+(?:\S+@\S+\.\w+|https?://)"
        ),
        0.8,
        ("@", "http"),
        also=k("send forward mail email e-mail post upload transmit exfiltrate leak append copy"),
    ),
    Pattern(
        "new_instructions",
        rx(
            r"\b(?:new|updated|real|actual|true|revised|priority|secret|hidden|only)\s+(?:system\s+)?(?:instructions?"
            r"|directives?|task|objective|orders|rules?|prompt|job|goal)\b\s*(?::|is\b|are\b|follow|now)"
        ),
        0.35,
        pairs(
            k("new updated real actual true revised priority secret hidden only"),
            k("instruction directive task objective orders rule prompt job goal system"),
        ),
        near=rx(r"\b(?:ignore|disregard|forget|override|supersede|instead|cancel|previous|above)\b"),
        near_score=0.75,
        reach=150,
    ),
    Pattern(
        "end_of_context",
        rx(
            r"\b(?:end|stop)\s+of\s+(?:the\s+)?(?:document|input|text|user\s+input|context|session|prompt|data)\b"
            r"|<\s*end\s+of\s+session\s*>|\bstop\s+everything\b"
        ),
        0.35,
        ("end of", "stop of", "stop everything"),
        near=rx(
            r"\b(?:new\s+task|instructions?|system|directive|now\s+(?:print|say|output|write)|just\s+(?:print|say))\b"
        ),
        near_score=0.75,
        reach=160,
    ),
)


class InjectionDetector:
    name = "injection"
    label = "injection"
    description = (
        "Prompt injection: instructions that try to override the application's, typed directly or hidden in content."
    )
    sides: tuple[Side, ...] = ("input",)

    def __init__(self, layers: Layers) -> None:
        self.layers = layers

    def detect(self, text: Text, context: ScanContext) -> Finding:
        hits = self.layers.patterns(text, "injection", PATTERNS)
        c = combine(text, hits, self.layers.learned(text, "injection"))
        details = dict(c.details)
        if c.spans:
            first = c.spans[0]
            # an instruction with plenty of other text around it was planted in content the model is processing
            details["kind"] = "indirect" if len(text.raw) - (first.end - first.start) > 300 else "direct"
        if c.view != "original" and c.original < 0.5 <= c.score:
            details["obfuscation"] = text.technique(c.view)
        text.cache["combined:injection"] = c
        return Finding(c.score, tuple(c.spans), self.label, details)
