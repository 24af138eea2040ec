"""Per-key limits under concurrency: parallel clients against rpm, tpm, token and USD budgets, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_server import NO_GUARD, Running, policy, serve
from weightwarden.gateway.auth import Caller, KeyStore
from weightwarden.gateway.errors import TooManyRequests
from weightwarden.gateway.limits import Limiter
from weightwarden.ledger import Ledger
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

try:
    import pgcluster
except ModuleNotFoundError:  # tests/ is a package, or pytest runs with --import-mode=importlib
    from tests import pgcluster

pg_cluster = pgcluster.pg_cluster

PROMPT = "1, 2, 3, 4,"  # the model counts on without stopping, so each answer uses exactly max_tokens
MAX_TOKENS = 3
PRICES = {"*": {"prompt": 2.0, "completion": 6.0}}  # USD per million tokens


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("limits")


@pytest.fixture(scope="module")
def gw(home: Path, llama: LlamaCppRuntime, default_artifact: Artifact) -> Iterator[Running]:
    with serve(home, llama, default_artifact, slots=32, serving=policy(prices=PRICES, **NO_GUARD)) as g:
        yield g


@pytest.fixture(scope="module")
def per_request(llama: LlamaCppRuntime) -> int:
    """Tokens one request uses (and reserves): its prompt plus max_tokens."""
    return len(llama.tokenize(PROMPT)) + MAX_TOKENS


def burst(gw: Running, key: str, n: int = 10) -> list[httpx.Response]:
    """n requests at once from n clients."""
    body = {"model": "default", "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0}

    def one(_: int) -> httpx.Response:
        return httpx.post(
            f"{gw.base_url}/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def split(responses: list[httpx.Response]) -> tuple[list[httpx.Response], list[httpx.Response]]:
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert all(r.status_code == 429 for r in refused), [r.text for r in refused]
    return ok, refused


def test_requests_per_minute_hold_under_a_burst(gw: Running) -> None:
    ok, refused = split(burst(gw, gw.key(rpm=3)))
    assert len(ok) == 3 and len(refused) == 7
    for r in refused:
        assert r.json()["error"]["code"] == "rate_limit_exceeded" and 1 <= int(r.headers["Retry-After"]) <= 60


def test_tokens_per_minute_hold_under_a_burst(gw: Running, per_request: int) -> None:
    ok, refused = split(burst(gw, gw.key(tpm=3 * per_request + per_request // 2)))
    assert len(ok) == 3
    assert all(r.json()["error"]["code"] == "rate_limit_exceeded" and "Retry-After" in r.headers for r in refused)
    too_big = burst(gw, gw.key(tpm=per_request - 1), n=1)[0]
    assert too_big.status_code == 429 and too_big.json()["error"]["code"] == "request_too_large"


def test_a_token_budget_for_three_requests_admits_three_of_ten(gw: Running, per_request: int) -> None:
    budget = 3 * per_request + per_request // 2
    key = gw.key(budget_tokens=budget, name="budget")
    ok, refused = split(burst(gw, key))
    assert len(ok) == 3
    assert all(r.json()["error"]["code"] == "insufficient_quota" and "Retry-After" not in r.headers for r in refused)
    used = sum(r.json()["usage"]["total_tokens"] for r in ok)
    assert used == 3 * per_request <= budget
    gw.ledger.flush()
    record = gw.ledger.api_key(gw.key_id(key))
    assert record is not None and record.spent_tokens == used, "spent totals are written back to the ledger"
    assert record.spent_usd == pytest.approx(3 * (2.0 * (per_request - MAX_TOKENS) + 6.0 * MAX_TOKENS) / 1e6)


def test_a_restarted_gateway_remembers_what_a_key_spent(home: Path, llama: LlamaCppRuntime, per_request: int) -> None:
    with serve(home / "first", llama) as first:
        key = first.key(budget_tokens=per_request + 1)
        assert burst(first, key, n=1)[0].status_code == 200
    with serve(home / "first", llama) as second:  # the same ledger file, a fresh process state
        refused = burst(second, key, n=1)[0]
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"


def test_a_usd_budget_holds_under_a_burst(gw: Running, per_request: int) -> None:
    cost = (2.0 * (per_request - MAX_TOKENS) + 6.0 * MAX_TOKENS) / 1e6
    ok, refused = split(burst(gw, gw.key(budget_usd=3.5 * cost)))
    assert len(ok) == 3 and all(r.json()["error"]["code"] == "insufficient_quota" for r in refused)
    rows = gw.rows(n=3, status=200, route="/v1/completions", limit=1000)
    assert all(r.cost_usd == pytest.approx(cost) for r in rows)


def caller(ledger: Ledger, **limits: Any) -> Caller:
    """A key with limits, recorded in the ledger, as KeyGate would hand it over."""
    _, record = KeyStore(ledger).create("x", **limits)
    return Caller(record.id, "x", False, record)


ledger = pgcluster.ledger  # SQLite and PostgreSQL


def test_windows_slide_and_settlement_frees_reservations(ledger: Ledger) -> None:
    now = [1000.0]
    limiter = Limiter(ledger, clock=lambda: now[0])
    rpm = caller(ledger, rpm=2)
    limiter.admit(rpm, 1, 0.0)
    now[0] += 20
    limiter.admit(rpm, 1, 0.0)
    with pytest.raises(TooManyRequests) as full:
        limiter.admit(rpm, 1, 0.0)
    assert full.value.retry_after == pytest.approx(40.0)
    now[0] += 40.01
    limiter.admit(rpm, 1, 0.0)  # the first request left the window
    budget = caller(ledger, budget_tokens=100)
    first = limiter.admit(budget, 60, 0.0)
    with pytest.raises(TooManyRequests, match="60 more in flight"):
        limiter.admit(budget, 50, 0.0)
    limiter.settle(first, 20, 0.0)  # it used less than it reserved: the rest is free again
    limiter.settle(first, 20, 0.0)  # settling twice changes nothing
    ledger.flush()
    spent = ledger.api_key(budget.key_id)
    assert spent is not None and (spent.spent_tokens, spent.reserved_tokens) == (20, 0)
    limiter.admit(budget, 80, 0.0)
    with pytest.raises(TooManyRequests):
        limiter.admit(budget, 1, 0.0)
    assert limiter.admit(Caller("admin", "admin", True), 10**9, 1e9) is None, "the env admin key has no limits"


def test_tokens_per_minute_count_what_is_in_flight_and_what_was_used(ledger: Ledger) -> None:
    now = [5000.0]
    limiter = Limiter(ledger, clock=lambda: now[0])
    key = caller(ledger, tpm=100, budget_usd=1.0)
    first = limiter.admit(key, 70, 0.5)
    with pytest.raises(TooManyRequests, match="100 tokens per minute"):
        limiter.admit(key, 40, 0.0)  # 70 in flight
    limiter.settle(first, 50, 0.25)  # 50 used, in the window from now
    ledger.flush()  # settlements are written in the background
    now[0] += 30
    second = limiter.admit(key, 50, 0.5)
    with pytest.raises(TooManyRequests) as full:
        limiter.admit(key, 1, 0.0)
    assert full.value.retry_after == pytest.approx(30.0)
    with pytest.raises(TooManyRequests, match=r"\$0.250000 of its \$1.000000 budget"):
        limiter.extend(second, 0, 0.3)  # the USD budget holds too, also when a reservation grows
    limiter.settle(second, 0, 0.0)  # it never ran: everything it held is released
    ledger.flush()
    now[0] += 30.01
    limiter.admit(key, 100, 0.0)  # the 50 used tokens left the window
    ledger.flush()
    record = ledger.api_key(key.key_id)
    assert record is not None
    assert (record.spent_tokens, record.spent_usd, record.reserved_tokens) == (50, 0.25, 100)


def test_what_a_dead_replica_had_reserved_comes_back_when_its_requests_time_is_up(ledger: Ledger) -> None:
    now = [9000.0]
    dead = Limiter(ledger, clock=lambda: now[0], hold=120.0)
    alive = Limiter(ledger, clock=lambda: now[0], hold=120.0)
    key = caller(ledger, budget_tokens=100)
    dead.admit(key, 90, 0.0)  # its process dies: this reservation is never settled
    now[0] += 119
    with pytest.raises(TooManyRequests, match="90 more in flight"):
        alive.admit(key, 20, 0.0)  # the request could still be running
    now[0] += 2
    late = alive.admit(key, 20, 0.0)
    ledger.flush()
    record = ledger.api_key(key.key_id)
    assert record is not None and record.reserved_tokens == 20
    alive.settle(late, 15, 0.0)
    ledger.flush()
    record = ledger.api_key(key.key_id)
    assert record is not None and (record.spent_tokens, record.reserved_tokens) == (15, 0)
