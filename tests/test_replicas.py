"""Replicas on one ledger: three real `warden serve` processes on one PostgreSQL enforce a key's limits together.

Each replica serves the default model in its own process (one llama.cpp thread each), with the same ledger URL and
admin secret. The test makes keys through one replica's admin API, sends 60 requests at once spread over the three,
and checks the ledger: a token budget, a USD budget and a tpm each let through exactly what they allow, an rpm limit
counts requests across replicas (not per replica), every refusal has the OpenAI error shape, and every request has
one audit row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from openai_peer import free_port
from weightwarden.ledger import Ledger

try:
    import pgcluster
except ModuleNotFoundError:  # tests/ is a package, or pytest runs with --import-mode=importlib
    from tests import pgcluster

pg_cluster = pgcluster.pg_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ADMIN = "ww-replicas-test-admin-secret"
REPLICAS = 3
REQUESTS = 60
PROMPT = "1, 2, 3, 4,"  # the model counts on without stopping, so each answer uses exactly max_tokens
MAX_TOKENS = 3
WARDEN = "from weightwarden.cli.main import main; main()"


@dataclass
class Replicas:
    urls: list[str]
    ledger: Ledger

    def admin(self, **limits: Any) -> tuple[str, str]:
        """A new key (id, secret) made through the first replica's admin API."""
        made = httpx.post(
            f"{self.urls[0]}/admin/keys",
            headers={"Authorization": f"Bearer {ADMIN}"},
            json={"name": "shared", **limits},
            timeout=30,
        )
        assert made.status_code == 200, made.text
        return made.json()["id"], made.json()["key"]

    def burst(self, secret: str, n: int = REQUESTS) -> list[httpx.Response]:
        """n requests at once, the i-th to replica i mod REPLICAS."""
        body = {"model": "default", "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0}
        headers = {"Authorization": f"Bearer {secret}"}

        def one(i: int) -> httpx.Response:
            url = f"{self.urls[i % len(self.urls)]}/v1/completions"
            return httpx.post(url, json=body, headers=headers, timeout=300)

        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(one, range(n)))

    def audit_rows(self, key_id: str, n: int, timeout: float = 30.0) -> int:
        """How many audit rows the key has, once there are n (the replicas write them in the background)."""
        deadline = time.time() + timeout
        while True:
            found = len(self.ledger.requests(key_id=key_id, limit=10_000))
            if found >= n or time.time() > deadline:
                return found
            time.sleep(0.1)


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 180
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"warden serve at {url} did not come up:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def replicas(pg_cluster: pgcluster.PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    root = tmp_path_factory.mktemp("replicas")
    db = pg_cluster.fresh_url()
    policy = root / "policy.yaml"
    # No guard, so the replicas stay light; prices, so that USD budgets bind.
    policy.write_text('input: {}\noutput: {}\nsketches: false\nprices: {"*": {prompt: 2.0, completion: 6.0}}\n')
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(REPLICAS):
            port = free_port()
            env = {**os.environ, "WARDEN_HOME": str(root / f"home{i}"), "WARDEN_ADMIN_KEY": ADMIN}
            env |= {"WARDEN_THREADS": "1", "HF_HUB_OFFLINE": "1"}
            log = root / f"replica{i}.log"
            args = ["serve", "default", "--port", str(port), "--db", db, "--slots", str(REQUESTS), "--no-embedder"]
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", WARDEN, *args, "--policy", str(policy), "--quiet"],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for i, (url, proc) in enumerate(zip(urls, procs, strict=True)):
            _wait_up(url, proc, root / f"replica{i}.log")
        with Ledger(db) as ledger:
            yield Replicas(urls, ledger)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _split(responses: list[httpx.Response], code: str) -> list[httpx.Response]:
    """The answers that succeeded; every other one is a 429 in the OpenAI error shape with this code."""
    ok = [r for r in responses if r.status_code == 200]
    for r in responses:
        if r.status_code != 200:
            assert r.status_code == 429, r.text
            error = r.json()["error"]
            assert error["code"] == code and error["message"] and error["type"], error
    return ok


@pytest.mark.parametrize(
    ("limit", "code"),
    [("budget_tokens", "insufficient_quota"), ("budget_usd", "insufficient_quota"), ("tpm", "rate_limit_exceeded")],
)
def test_a_limit_shared_by_three_replicas_admits_exactly_what_it_allows(
    replicas: Replicas, limit: str, code: str
) -> None:
    _, probe = replicas.admin()
    usage = replicas.burst(probe, n=1)[0].json()["usage"]  # reserved == used: see PROMPT
    per_request = usage["total_tokens"]
    cost = (2.0 * usage["prompt_tokens"] + 6.0 * usage["completion_tokens"]) / 1e6
    allows = 10.5 * cost if limit == "budget_usd" else 10 * per_request + per_request // 2
    key_id, secret = replicas.admin(**{limit: allows})
    ok = _split(replicas.burst(secret), code)
    assert len(ok) == 10, f"ten requests fit the {limit}, whichever replica they reached"
    used = sum(r.json()["usage"]["total_tokens"] for r in ok)
    deadline = time.time() + 30
    while (key := replicas.ledger.api_key(key_id)) is not None and key.reserved_tokens and time.time() < deadline:
        time.sleep(0.1)  # settlements are written in the background
    assert key is not None and key.spent_tokens == used == 10 * per_request, "no overspend"
    assert key.spent_usd == pytest.approx(10 * cost) and key.spent_usd <= 10.5 * cost
    assert key.reserved_tokens == 0 and key.reserved_usd == 0, "every reservation was settled or released"
    assert replicas.audit_rows(key_id, REQUESTS) == REQUESTS, "every replica's requests are in the one ledger"


def test_an_rpm_limit_counts_requests_across_replicas_not_per_replica(replicas: Replicas) -> None:
    key_id, secret = replicas.admin(rpm=20)
    responses = replicas.burst(secret)
    ok = _split(responses, "rate_limit_exceeded")
    assert len(ok) == 20, f"{len(ok)} passed: a per-replica window would let {3 * 20} through"
    refused = [r for r in responses if r.status_code == 429]
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in refused)
    assert replicas.audit_rows(key_id, REQUESTS) == REQUESTS
