"""Alert delivery: POST a JSON alert to a webhook when rules start or stop firing, with retries, without repeats.

De-duplication is by state: each check is recorded in the ledger (record.py), and a rule is announced only when
it starts firing (or stops: `resolved`) compared with the previous check of the same rules file, so a cron job
that runs every minute sends one alert per incident, not one a minute.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger
from weightwarden.ledger.records import utcnow
from weightwarden.monitor.record import KIND
from weightwarden.monitor.rules import RuleResult

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def previous_firing(ledger: Ledger, rules_file: str, scan: int = 1000) -> set[str]:
    """The rules that fired at the last recorded check of this rules file (none if it was never checked)."""
    for event in ledger.events(limit=scan):
        payload = event.payload
        if (
            event.kind == KIND
            and payload.get("what") == "check"
            and payload.get("config", {}).get("rules") == rules_file
        ):
            return set(payload.get("summary", {}).get("firing", []))
    return set()


def alert(results: Sequence[RuleResult], before: set[str]) -> dict[str, Any] | None:
    """The alert to send: rules that started firing and rules that stopped; None when nothing changed."""
    now = {r.rule.name for r in results if r.firing}
    started = [r.as_dict() for r in results if r.rule.name in now - before]
    resolved = sorted(before - now)
    if not started and not resolved:
        return None
    return {
        "source": "weightwarden",
        "time": utcnow().isoformat(),
        "status": "firing" if now else "resolved",
        "firing": sorted(now),
        "started": started,
        "resolved": resolved,
    }


def post(url: str, payload: dict[str, Any], *, attempts: int = 4, backoff_s: float = 0.5, timeout_s: float = 10) -> int:
    """POST payload as JSON; retry connection errors, timeouts, 429 and 5xx with doubling waits; return the status.

    A WardenError after the last attempt says what the webhook answered.
    """
    last = ""
    for attempt in range(attempts):
        try:
            response = httpx.post(url, json=payload, timeout=timeout_s)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code not in RETRY_STATUSES:
                if response.status_code >= 400:
                    raise WardenError(
                        f"the webhook {url} refused the alert with {response.status_code}: check its URL and token"
                    )
                return response.status_code
            last = f"HTTP {response.status_code}"
        if attempt + 1 < attempts:
            time.sleep(backoff_s * 2**attempt)
    raise WardenError(f"the webhook {url} did not take the alert after {attempts} attempts ({last}): is it up?")
