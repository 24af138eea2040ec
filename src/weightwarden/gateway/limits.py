"""Per-key limits: requests and tokens per minute (sliding windows) and token and USD budgets.

Admission reserves what a request may use at most (its prompt tokens plus max_tokens, and their cost); completion
settles it to what was used. Every check counts the reservations in flight, all under one lock, so concurrent
requests cannot overspend: the sum of what is spent and reserved never passes a budget. Spent totals start from
the ledger and are written back after each request (without waiting); the windows live in this process only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from weightwarden.gateway.auth import Caller
from weightwarden.gateway.errors import TooManyRequests
from weightwarden.ledger import ApiKeyRecord

WINDOW_SECONDS = 60.0


@dataclass
class Reservation:
    """What one admitted request may use at most; settle it exactly once."""

    key_id: str
    tokens: int
    usd: float
    settled: bool = False


@dataclass
class _Usage:
    spent_tokens: int
    spent_usd: float
    reserved_tokens: int = 0
    reserved_usd: float = 0.0
    requests: deque[float] = field(default_factory=deque)  # admission times in the window
    tokens: deque[tuple[float, int]] = field(default_factory=deque)  # (settle time, tokens) in the window
    window_tokens: int = 0


class Limiter:
    """Admits or refuses requests per key.

    on_spend(key_id, tokens, usd): persists what a settled request used (called outside the lock).
    clock: seconds, monotonic; a test may pass its own.
    """

    def __init__(
        self,
        on_spend: Callable[[str, int, float], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self._on_spend = on_spend
        self._clock = clock
        self._window = window
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}
        self._keys: dict[str, ApiKeyRecord] = {}  # the record each usage was last checked against

    def _state(self, key: ApiKeyRecord, now: float) -> _Usage:
        usage = self._usage.get(key.id)
        if usage is None:
            usage = self._usage[key.id] = _Usage(key.spent_tokens, key.spent_usd)
        self._keys[key.id] = key
        horizon = now - self._window
        while usage.requests and usage.requests[0] <= horizon:
            usage.requests.popleft()
        while usage.tokens and usage.tokens[0][0] <= horizon:
            usage.window_tokens -= usage.tokens.popleft()[1]
        return usage

    def admit(self, caller: Caller, tokens: int, usd: float) -> Reservation | None:
        """count_request then reserve: the whole admission of one request, or TooManyRequests."""
        self.count_request(caller)
        return self.reserve(caller, tokens, usd)

    def count_request(self, caller: Caller) -> None:
        """Count one request against the key's requests per minute, or raise TooManyRequests (it then does not count).

        Cheap (no tokens needed), so the gateway calls it before any other work on a request.
        """
        key = caller.record
        if key is None or key.rpm is None:
            return
        with self._lock:
            now = self._clock()
            usage = self._state(key, now)
            if len(usage.requests) >= key.rpm:
                wait = usage.requests[0] + self._window - now
                raise TooManyRequests(
                    f"key {key.id} is limited to {key.rpm} requests per minute: retry in {wait:.0f} s",
                    retry_after=wait,
                )
            usage.requests.append(now)

    def reserve(self, caller: Caller, tokens: int, usd: float) -> Reservation | None:
        """Reserve tokens and usd for one request of caller, or raise TooManyRequests. None: nothing to limit."""
        key = caller.record
        if key is None:
            return None
        with self._lock:
            usage = self._state(key, self._clock())
            self._check(key, usage, tokens, usd)
            usage.reserved_tokens += tokens
            usage.reserved_usd += usd
            return Reservation(key.id, tokens, usd)

    def extend(self, reservation: Reservation | None, tokens: int, usd: float) -> None:
        """Grow a reservation by tokens and usd (a redacted prompt came out longer), or raise TooManyRequests."""
        if reservation is None or reservation.settled or (tokens <= 0 and usd <= 0):
            return
        with self._lock:
            usage = self._usage[reservation.key_id]
            key = self._keys[reservation.key_id]
            self._check(key, usage, tokens, usd)
            usage.reserved_tokens += tokens
            usage.reserved_usd += usd
            reservation.tokens += tokens
            reservation.usd += usd

    def _check(self, key: ApiKeyRecord, usage: _Usage, tokens: int, usd: float) -> None:
        """Raise TooManyRequests if tokens and usd more would pass a token window or a budget (lock held)."""
        now = self._clock()
        if key.tpm is not None:
            if tokens > key.tpm:
                raise TooManyRequests(
                    f"this request may use {tokens} tokens, more than key {key.id}'s {key.tpm} tokens per "
                    "minute: lower max_tokens or shorten the prompt",
                    code="request_too_large",
                )
            if usage.window_tokens + usage.reserved_tokens + tokens > key.tpm:
                wait = usage.tokens[0][0] + self._window - now if usage.tokens else 1.0
                raise TooManyRequests(
                    f"key {key.id} is limited to {key.tpm} tokens per minute: retry in {wait:.0f} s",
                    retry_after=wait,
                )
        if key.budget_tokens is not None and usage.spent_tokens + usage.reserved_tokens + tokens > key.budget_tokens:
            raise TooManyRequests(
                f"key {key.id} has used {usage.spent_tokens} of its {key.budget_tokens}-token budget "
                f"({usage.reserved_tokens} more in flight) and this request may use {tokens}: "
                "lower max_tokens, or ask for a larger budget",
                code="insufficient_quota",
            )
        if key.budget_usd is not None and usage.spent_usd + usage.reserved_usd + usd > key.budget_usd:
            raise TooManyRequests(
                f"key {key.id} has spent ${usage.spent_usd:.6f} of its ${key.budget_usd:.6f} budget "
                f"(${usage.reserved_usd:.6f} more in flight) and this request may cost ${usd:.6f}: "
                "lower max_tokens, or ask for a larger budget",
                code="insufficient_quota",
            )

    def settle(self, reservation: Reservation | None, tokens: int, usd: float) -> None:
        """Replace a reservation by what the request used (0 when it never ran)."""
        if reservation is None or reservation.settled:
            return
        reservation.settled = True
        with self._lock:
            usage = self._usage[reservation.key_id]
            usage.reserved_tokens -= reservation.tokens
            usage.reserved_usd -= reservation.usd
            usage.spent_tokens += tokens
            usage.spent_usd += usd
            if tokens:
                usage.tokens.append((self._clock(), tokens))
                usage.window_tokens += tokens
        if (tokens or usd) and self._on_spend is not None:
            self._on_spend(reservation.key_id, tokens, usd)

    def spent(self, key_id: str) -> tuple[int, float] | None:
        """Tokens and USD spent by a key as this process knows it, or None if it has not seen the key."""
        with self._lock:
            usage = self._usage.get(key_id)
            return (usage.spent_tokens, usage.spent_usd) if usage else None
