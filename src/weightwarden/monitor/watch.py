"""One check of an alert-rules file, as `warden monitor check` does it: evaluate, announce changes, record.

`warden serve --alert-rules FILE` calls check_rules every few minutes from the gateway (gateway/app.py).
"""

from __future__ import annotations

import logging
from typing import Any

from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger
from weightwarden.monitor.notify import alert, post, previous_firing
from weightwarden.monitor.record import record_result
from weightwarden.monitor.rules import evaluate, load_rules, widest

log = logging.getLogger(__name__)


def check_rules(ledger: Ledger, rules_file: str, webhook: str | None = None) -> dict[str, Any]:
    """Evaluate the rules now; POST an alert when some started or stopped firing; record the check; return it.

    A webhook that does not take the alert is logged and kept in the summary (`webhook_error`), never raised: the
    check is still recorded, and the next change is announced.
    """
    rules = load_rules(rules_file)
    before = previous_firing(ledger, rules_file)
    results = evaluate(ledger, rules)
    summary: dict[str, Any] = {
        "firing": [r.rule.name for r in results if r.firing],
        "results": [r.as_dict() for r in results],
    }
    message = alert(results, before)
    if webhook and message is not None:
        try:
            summary["webhook_status"] = post(webhook, message)
        except WardenError as exc:
            log.error("alert not delivered: %s", exc)
            summary["webhook_error"] = str(exc)
    record_result(ledger, "check", {"rules": rules_file}, summary, widest(rules), None)
    return summary
