"""A circuit breaker for one upstream server: closed (traffic flows), open (none, for a cool-down), half-open (one
trial request; its outcome closes or reopens the breaker).

    closed ──N consecutive failures──► open ──cool-down passed──► half-open ──trial succeeds──► closed
                                        ▲                              │
                                        └────────trial fails───────────┘

Failures are those of requests and of health checks alike, so a server that nobody sends requests to still opens
its breaker when it goes away. Callers hold no lock: every method takes the breaker's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "half_open", "open"]
STATE_CODES: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}  # the gauge: higher is worse


class CircuitBreaker:
    """One server's breaker.

    failures: consecutive failures that open it; cooldown: seconds it stays open; on_change: called with the new
    state on every transition (outside the lock), for metrics and logs; clock: monotonic seconds (tests may pass
    their own).
    """

    def __init__(
        self,
        failures: int,
        cooldown: float,
        on_change: Callable[[BreakerState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or cooldown <= 0:
            raise ValueError("a breaker opens after at least one failure and stays open for some time")
        self.threshold, self.cooldown = failures, cooldown
        self._on_change, self._clock = on_change, clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial = False  # a half-open breaker's one trial request is under way

    @property
    def state(self) -> BreakerState:
        """The state now: an open breaker whose cool-down has passed is half-open."""
        with self._lock:
            changed = self._tick()
            state = self._state
        self._tell(changed)
        return state

    def _tick(self) -> BreakerState | None:
        if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
            self._state, self._trial = "half_open", False
            return self._state
        return None

    def _tell(self, changed: BreakerState | None) -> None:
        if changed is not None and self._on_change is not None:
            self._on_change(changed)

    def half_opens_in(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when it is not open)."""
        with self._lock:
            if self._state != "open":
                return 0.0
            return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def available(self) -> bool:
        """Whether a request may be sent now (closed, or half-open with no trial under way); takes nothing."""
        with self._lock:
            changed = self._tick()
            ok = self._state == "closed" or (self._state == "half_open" and not self._trial)
        self._tell(changed)
        return ok

    def acquire(self) -> bool:
        """Take the right to send one request: always when closed, once (the trial) when half-open."""
        with self._lock:
            changed = self._tick()
            if self._state == "half_open" and not self._trial:
                self._trial = True
                ok = True
            else:
                ok = self._state == "closed"
        self._tell(changed)
        return ok

    def success(self) -> None:
        """A request or trial succeeded: the count starts again and a half-open breaker closes."""
        with self._lock:
            self._failures = 0
            changed: BreakerState | None = None
            if self._state == "half_open":
                self._state, self._trial, changed = "closed", False, "closed"
        self._tell(changed)

    def failure(self) -> None:
        """A request, trial or health check failed: count it; open after the threshold, reopen when half-open."""
        with self._lock:
            self._tick()
            self._failures += 1
            changed: BreakerState | None = None
            if self._state == "half_open" or (self._state == "closed" and self._failures >= self.threshold):
                self._state, self._trial, self._opened_at, changed = "open", False, self._clock(), "open"
        self._tell(changed)

    def release(self) -> None:
        """A trial that ended without a verdict (the client went away first): let another request try."""
        with self._lock:
            if self._state == "half_open":
                self._trial = False
