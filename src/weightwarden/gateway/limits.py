"""Per-key limits: requests and tokens per minute (sliding windows) and token and USD budgets, kept in the ledger.

Admission reserves what a request may use at most (its prompt tokens plus max_tokens, and their cost); completion
settles it to what was used, and a request that never ran releases it. Every decision is one transaction in the
ledger (see ledger/quota.py: a conditional UPDATE for budgets, the key's row lock for the per-minute windows), so
any number of `warden serve` processes on one PostgreSQL ledger (or one SQLite file) enforce a key's limits
together: there is no per-process window, and the sum of what is spent and reserved never passes a budget.

A key with no limits costs no database work here: its spend is added to the ledger after the request, without
waiting. A settlement is queued the same way; the ledger's writer keeps one process's writes in order, so the next
reservation made by this process sees it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from weightwarden.gateway.auth import Caller
from weightwarden.gateway.errors import TooManyRequests
from weightwarden.ledger import Ledger, Quota

WINDOW_SECONDS = 60.0

log = logging.getLogger("weightwarden.gateway")


@dataclass
class Reservation:
    """What one admitted request may use at most; settle it exactly once.

    held: the tokens and usd are reserved in the ledger (the key has a budget or a tpm), as reservation id;
    per_minute: the key has a tpm, so what the request used joins its window.
    """

    key_id: str
    tokens: int
    usd: float
    held: bool = True
    per_minute: bool = False
    settled: bool = False
    id: str = field(default_factory=lambda: secrets.token_hex(13))


def counts_requests(caller: Caller) -> bool:
    """Whether admitting caller's request needs the ledger (its key has a requests-per-minute limit)."""
    return caller.record is not None and caller.record.rpm is not None


def holds_tokens(caller: Caller) -> bool:
    """Whether reserving for caller's request needs the ledger (its key has a tpm or a budget)."""
    key = caller.record
    return key is not None and (key.tpm is not None or key.budget_tokens is not None or key.budget_usd is not None)


class Limiter:
    """Admits or refuses requests per key, through the ledger.

    clock: Unix seconds (every replica's clock must agree, as NTP keeps them); a test may pass its own.
    window: the length of the per-minute windows in seconds.
    hold: seconds after which a reservation that was never settled is presumed lost (its gateway died) and given
    back; longer than any request may take.
    on_error(key_id, exc): told when a settlement could not be written (it is also logged).
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        clock: Callable[[], float] = time.time,
        window: float = WINDOW_SECONDS,
        hold: float = 3600.0,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._window = window
        self._hold_seconds = hold
        self._on_error = on_error

    def admit(self, caller: Caller, tokens: int, usd: float) -> Reservation | None:
        """count_request then reserve: the whole admission of one request, or TooManyRequests."""
        self.count_request(caller)
        return self.reserve(caller, tokens, usd)

    def count_request(self, caller: Caller) -> None:
        """Count one request against the key's requests per minute, or raise TooManyRequests (it then does not count).

        The gateway calls it before any other work on a request; a key without an rpm costs nothing.
        """
        key = caller.record
        if key is None or key.rpm is None:
            return
        refused = self._ledger.take_request(key.id, self._clock(), self._window)
        if refused is not None:
            wait = refused.retry_after or 1.0
            raise TooManyRequests(
                f"key {key.id} is limited to {refused.rpm} requests per minute: retry in {wait:.0f} s",
                retry_after=wait,
            )

    def reserve(self, caller: Caller, tokens: int, usd: float) -> Reservation | None:
        """Reserve tokens and usd for one request of caller, or raise TooManyRequests. None: nothing to limit."""
        key = caller.record
        if key is None:
            return None
        per_minute = key.tpm is not None
        if per_minute and key.tpm is not None and tokens > key.tpm:
            raise TooManyRequests(
                f"this request may use {tokens} tokens, more than key {key.id}'s {key.tpm} tokens per "
                "minute: lower max_tokens or shorten the prompt",
                code="request_too_large",
            )
        if not holds_tokens(caller):
            return Reservation(key.id, tokens, usd, held=False)
        reservation = Reservation(key.id, tokens, usd, per_minute=per_minute)
        self._hold(reservation, tokens, usd)
        return reservation

    def extend(self, reservation: Reservation | None, tokens: int, usd: float) -> None:
        """Grow a reservation by tokens and usd (a redacted prompt came out longer), or raise TooManyRequests."""
        if reservation is None or reservation.settled or (tokens <= 0 and usd <= 0):
            return
        if reservation.held:
            self._hold(reservation, tokens, usd, grow=True)
        reservation.tokens += tokens
        reservation.usd += usd

    def _hold(self, reservation: Reservation, tokens: int, usd: float, grow: bool = False) -> None:
        now = self._clock()
        refused = self._ledger.reserve_quota(
            reservation.key_id,
            reservation.id,
            tokens,
            usd,
            now,
            self._window,
            now + self._hold_seconds,
            per_minute=reservation.per_minute,
            grow=grow,
        )
        if refused is not None:
            raise _refusal(refused, tokens, usd)

    def settle(self, reservation: Reservation | None, tokens: int, usd: float) -> None:
        """Replace a reservation by what the request used (0 when it never ran), without waiting for the write."""
        if reservation is None or reservation.settled:
            return
        reservation.settled = True
        held_tokens, held_usd = (reservation.tokens, reservation.usd) if reservation.held else (0, 0.0)
        if not (held_tokens or held_usd or tokens or usd):
            return
        key_id = reservation.key_id

        def done(future: object) -> None:
            exc = future.exception()  # type: ignore[attr-defined]
            if exc is not None:
                log.error("the spend of key %s could not be written: %s", key_id, exc)
                if self._on_error is not None:
                    self._on_error(key_id, exc)

        try:
            self._ledger.settle_quota(
                key_id,
                reservation.id if reservation.held else None,
                held_tokens,
                held_usd,
                tokens,
                usd,
                self._clock(),
                per_minute=reservation.per_minute,
            ).add_done_callback(done)
        except Exception as exc:  # a closed ledger at shutdown: the request itself was answered
            log.error("the spend of key %s could not be queued: %s", key_id, exc)
            if self._on_error is not None:
                self._on_error(key_id, exc)


def _refusal(q: Quota, tokens: int, usd: float) -> TooManyRequests:
    """The 429 for a reservation the ledger refused."""
    if q.refused == "tpm":
        wait = q.retry_after or 1.0
        return TooManyRequests(
            f"key {q.key_id} is limited to {q.tpm} tokens per minute: retry in {wait:.0f} s", retry_after=wait
        )
    if q.refused == "budget_tokens":
        return TooManyRequests(
            f"key {q.key_id} has used {q.spent_tokens} of its {q.budget_tokens}-token budget "
            f"({q.reserved_tokens} more in flight) and this request may use {tokens}: "
            "lower max_tokens, or ask for a larger budget",
            code="insufficient_quota",
        )
    return TooManyRequests(
        f"key {q.key_id} has spent ${q.spent_usd:.6f} of its ${q.budget_usd or 0:.6f} budget "
        f"(${q.reserved_usd:.6f} more in flight) and this request may cost ${usd:.6f}: "
        "lower max_tokens, or ask for a larger budget",
        code="insufficient_quota",
    )
