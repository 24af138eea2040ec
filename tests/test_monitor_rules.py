"""`warden monitor check`: alert rules in YAML, exit 1 when one fires, each check recorded in the ledger."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from weightwarden.errors import ConfigError
from weightwarden.gateway.auth import KeyStore
from weightwarden.ledger import Ledger, ModelRecord, RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id
from weightwarden.monitor.drift import drift, load_sample
from weightwarden.monitor.record import latest_result
from weightwarden.monitor.rules import evaluate, parse_rules
from weightwarden.monitor.sketch import sketch_requests
from weightwarden.monitor.window import parse_window

try:
    import pgcluster
except ModuleNotFoundError:
    from tests import pgcluster

pg_cluster = pgcluster.pg_cluster

HASH = "b" * 64


def rows(
    n: int, *, hours_ago: float, status: int = 200, latency: float = 5.0, block: bool = False
) -> list[RequestRecord]:
    rng = random.Random(n)
    verdict = {"detector": "injection", "label": "injection", "score": 0.9, "action": "block"}
    return [
        RequestRecord(
            request_id=new_run_id(),
            time=utcnow() - timedelta(hours=hours_ago, minutes=rng.uniform(0, 30)),
            route="/v1/chat/completions",
            status=status,
            model="default",
            model_hash=HASH,
            prompt_tokens=10,
            completion_tokens=5,
            total_ms=rng.lognormvariate(latency, 0.2),
            cost_usd=0.001,
            verdicts={"input": [verdict]} if block else {},
        )
        for _ in range(n)
    ]


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        opened.upsert_model(ModelRecord(hash=HASH, name="default", format="gguf", size_bytes=1))
        old = rows(100, hours_ago=72)
        recent = rows(90, hours_ago=0.2, latency=6.0) + rows(10, hours_ago=0.2, status=500)
        recent += rows(5, hours_ago=0.1, block=True)
        opened.add_requests(lambda: old + recent).result()
        yield opened


def rules(*items: dict[str, Any]) -> Any:
    return parse_rules({"rules": list(items)}, "test rules")


def test_rules_fire_on_their_metric_over_their_window(ledger: Ledger) -> None:
    results = evaluate(
        ledger,
        rules(
            {"name": "5xx", "metric": "error_rate", "above": 0.05},
            {"name": "5xx ok", "metric": "error_rate", "above": 0.2},
            {"name": "blocks", "metric": "guard_block_rate", "above": 0.02},
            {"name": "slow", "metric": "latency_p95_ms", "above": 100000},
            {"name": "quiet", "metric": "error_rate", "above": 0.0, "min_requests": 1000},
            {"name": "old errors", "metric": "error_rate", "above": 0.0, "window": "4d..2d"},
            {"name": "spend", "metric": "usd", "above": 0.1, "window": "7d"},
            {"name": "drift", "metric": "drift_p", "reference": "4d..2d", "window": "1h", "below": 0.01},
        ),
    )
    got = {r.rule.name: r for r in results}
    assert got["5xx"].firing and got["5xx"].value == pytest.approx(10 / 105)
    assert not got["5xx ok"].firing
    assert got["blocks"].firing and got["blocks"].value == pytest.approx(5 / 105)
    assert not got["slow"].firing and got["slow"].value is not None
    assert not got["quiet"].firing and got["quiet"].value is None and "fewer than min_requests" in got["quiet"].note
    assert not got["old errors"].firing and got["old errors"].value == 0.0
    assert got["spend"].firing and got["spend"].value == pytest.approx(0.205)
    assert got["drift"].firing and got["drift"].value is not None and got["drift"].value < 1e-6  # latency moved


def test_budget_use(ledger: Ledger) -> None:
    _, key = KeyStore(ledger).create("app", budget_usd=2.0)
    ledger.add_api_key_spend(key.id, 100, 1.9).result()
    (result,) = evaluate(ledger, rules({"metric": "budget_use", "above": 0.9}))
    assert result.firing and result.value == pytest.approx(0.95) and result.rule.name == "budget_use above 0.9"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"metric": "p95"}, "is not one of requests"),
        ({"metric": "usd", "above": 1, "below": 2}, "exactly one of above: or below:"),
        ({"metric": "usd"}, "exactly one of above: or below:"),
        ({"metric": "usd", "above": "a lot"}, "must be a number"),
        ({"metric": "drift_p", "below": 0.01}, "needs a reference window"),
        ({"metric": "usd", "above": 1, "window": "last week"}, "write 7d"),
        ({"metric": "usd", "above": 1, "severity": "high"}, "unknown key"),
    ],
)
def test_bad_rules_say_how_to_fix_them(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rules(item)
    with pytest.raises(ConfigError, match="write a `rules:` list"):
        parse_rules({"rule": []}, "x")


def test_check_exits_1_when_a_rule_fires_and_records_each_check(ledger: Ledger, tmp_path: Path, cli: Any) -> None:
    ledger.close()
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    firing = tmp_path / "firing.yaml"
    firing.write_text("rules:\n  - {name: server errors, metric: error_rate, above: 0.05}\n")
    calm = tmp_path / "calm.yaml"
    calm.write_text("rules:\n  - {name: server errors, metric: error_rate, above: 0.5, window: 2h}\n")
    bad = cli("monitor", "check", "--rules", str(firing), "--db", db)
    assert bad.code == 1 and "FIRING" in bad.out and "server errors" in bad.out
    good = cli("monitor", "check", "--rules", str(calm), "--json", "--db", db)
    assert good.code == 0, good.err
    assert json.loads(good.out)["firing"] == [] and json.loads(good.out)["results"][0]["value"] > 0
    missing = cli("monitor", "check", "--rules", str(tmp_path / "none.yaml"), "--db", db)
    assert missing.code == 2 and "cannot read the rules file" in missing.err
    with Ledger(db) as reopened:
        events = [e for e in reopened.events() if e.kind == "monitor"]
        runs = reopened.runs(model_hash=HASH, kind="monitor")
    assert [e.payload["summary"]["firing"] for e in events] == [[], ["server errors"]]  # newest first
    assert len(runs) == 2 and runs[1].summary is not None and runs[1].summary["firing"] == ["server errors"]
    with Ledger(db) as reopened:
        latest = latest_result(reopened, HASH)
        assert latest_result(reopened, "c" * 64) is None
    assert latest is not None and latest["config"]["what"] == "check" and latest["summary"]["firing"] == []


@pytest.mark.postgres
def test_rules_drift_and_sketches_on_postgresql(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_cluster").fresh_url()
    with Ledger(url) as ledger:
        ledger.upsert_model(ModelRecord(hash=HASH, name="default", format="gguf", size_bytes=1))
        old, recent = rows(100, hours_ago=72), rows(90, hours_ago=0.2, latency=6.0)
        recent += rows(10, hours_ago=0.2, status=500)
        ledger.add_requests(lambda: old + recent).result()
        rng = random.Random(0)
        vectors = {r.request_id: [rng.gauss(0, 1) for _ in range(8)] for r in old + recent}
        items = [(r, f"question {i}", "I'm sorry, but no." if i % 3 else "Sure.") for i, r in enumerate(old + recent)]
        ledger.add_sketches(sketch_requests(items, lambda texts: [vectors[r.request_id] for r, _, _ in items])).result()
        results = {
            r.rule.name: r
            for r in evaluate(
                ledger,
                rules(
                    {"name": "5xx", "metric": "error_rate", "above": 0.05},
                    {"name": "drift", "metric": "drift_p", "reference": "4d..2d", "window": "1h", "below": 0.01},
                ),
            )
        }
        assert results["5xx"].firing and results["5xx"].value == pytest.approx(0.1)
        assert results["drift"].firing
        sample = load_sample(ledger, parse_window("4d..2d"), max_rows=30)
        assert sample.requests == 100 and sample.sketched == 30 and sample.embeddings.shape == (30, 8)
        report = drift(ledger, parse_window("4d..2d"), parse_window("1h"), permutations=99)
        refusal = report.test("refusal rate")
        assert refusal is not None and refusal.details["rate_reference"] == pytest.approx(
            sum(i % 3 != 0 for i in range(100)) / 100
        )
        clf = report.test("embedding: domain classifier")
        assert clf is not None and clf.p_adjusted > 0.05  # the vectors are noise in both windows


def test_the_audit_stage_shows_the_latest_monitor_result(ledger: Ledger, default_artifact: Any) -> None:
    from weightwarden.audit.context import AuditContext
    from weightwarden.audit.registry import STAGES
    from weightwarden.monitor.record import record_result

    assert "monitor" in STAGES
    ctx = AuditContext(artifact=default_artifact, runtime=None, ledger=ledger, run_id="x")  # type: ignore[arg-type]
    quiet = STAGES["monitor"]().run(ctx)
    assert quiet.status == "ok" and "no monitor result yet" in quiet.summary
    ledger.upsert_model(ModelRecord(hash=default_artifact.sha256, name="default", format="gguf", size_bytes=1))
    window = parse_window("1h")
    results = evaluate(ledger, rules({"name": "5xx", "metric": "error_rate", "above": 0.05}))
    summary = {"firing": ["5xx"], "results": [r.as_dict() for r in results]}
    with ledger._engine.begin() as conn:  # the traffic in the window was served by this model
        conn.exec_driver_sql("UPDATE requests SET model_hash = ?", (default_artifact.sha256,))
    record_result(ledger, "check", {"rules": "alerts.yaml"}, summary, window, None)
    loud = STAGES["monitor"]().run(ctx)
    assert loud.status == "warn" and "5xx firing" in loud.summary
    assert loud.rows[0]["rule"] == "5xx" and loud.rows[0]["firing"] is True
