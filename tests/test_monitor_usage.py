"""`warden monitor usage`: rollups computed in SQL equal what the audit rows say, on SQLite and PostgreSQL, for rows
written by real gateway requests and for bulk-inserted rows."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from gateway_server import serve
from weightwarden.errors import ConfigError
from weightwarden.ledger import MIGRATIONS, Ledger, RequestRecord, hourly
from weightwarden.ledger import schema as tables
from weightwarden.ledger.migrations import version_of
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id
from weightwarden.monitor.rollup import PERCENTILES, usage
from weightwarden.monitor.window import Window, parse_window
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

try:
    import pgcluster
except ModuleNotFoundError:
    from tests import pgcluster

pg_cluster = pgcluster.pg_cluster

LABELS = ("injection", "jailbreak", "pii")


def bulk_rows(n: int, seed: int = 0) -> list[RequestRecord]:
    """Rows spread over ten days, three keys (and none), two models, every kind of status, ties in latency."""
    rng = random.Random(seed)
    now = utcnow()
    rows = []
    for _ in range(n):
        verdicts: dict[str, Any] = {}
        if rng.random() < 0.8:
            verdicts["input"] = [
                {"detector": d, "label": d if rng.random() < 0.2 else "clean", "score": rng.random(), "action": "flag"}
                for d in LABELS
            ]
        if rng.random() < 0.5:
            verdicts["output"] = [{"detector": "pii", "label": "pii", "score": 0.9, "action": "redact"}]
        rows.append(
            RequestRecord(
                request_id=new_run_id(),
                time=now - timedelta(hours=rng.uniform(0.1, 240)),
                route=rng.choice(["/v1/chat/completions", "/v1/completions"]),
                status=rng.choice([200] * 12 + [401, 429, 429, 499, 500, 504]),
                key_id=rng.choice(["key_a", "key_b", "key_c", None]),
                model=rng.choice(["default", "tuned"]),
                prompt_tokens=rng.randint(0, 500),
                completion_tokens=rng.randint(0, 200),
                total_ms=float(rng.choice([rng.uniform(1, 3000), 250.0])),  # some exact ties
                cost_usd=rng.uniform(0, 0.01),
                verdicts=verdicts,
            )
        )
    return rows


def nearest_rank(values: Sequence[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


def expected(
    rows: Sequence[RequestRecord], keys: Sequence[str], window: Window
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The same figures computed in Python, one row at a time, as the reference."""
    groups: dict[tuple[Any, ...], list[RequestRecord]] = defaultdict(list)
    for r in rows:
        if not window.since <= r.time < window.until:
            continue
        values = {
            "key": r.key_id,
            "model": r.model,
            "day": r.time.strftime("%Y-%m-%d"),
            "hour": r.time.strftime("%Y-%m-%d %H"),
            "route": r.route,
            "status": r.status,
        }
        groups[tuple(values[k] for k in keys)].append(r)
    out = {}
    for key, members in groups.items():
        guard: Counter[str] = Counter()
        for r in members:
            for side, verdicts in r.verdicts.items():
                for v in verdicts:
                    if v["label"] != "clean":
                        guard[f"{side}:{v['label']}:{v['action']}"] += 1
        out[key] = {
            "requests": len(members),
            "prompt_tokens": sum(r.prompt_tokens for r in members),
            "completion_tokens": sum(r.completion_tokens for r in members),
            "usd": sum(r.cost_usd for r in members),
            "errors": sum(r.status >= 500 for r in members),
            "client_errors": sum(400 <= r.status < 500 and r.status != 429 for r in members),
            "rate_limited": sum(r.status == 429 for r in members),
            **{f"p{p}": nearest_rank([r.total_ms for r in members], p) for p in PERCENTILES},
            "mean": sum(r.total_ms for r in members) / len(members),
            "guard": dict(guard),
        }
    return out


def close_enough(got: float | None, exact: float | None) -> bool:
    """A percentile from the hourly histogram against the exact nearest-rank one: within the stated bound."""
    if got is None or exact is None:
        return got is exact
    return abs(got - exact) <= max(hourly.RELATIVE_ERROR * exact, hourly.ABSOLUTE_ERROR_BELOW_1MS) + 1e-9


def check(
    ledger: Ledger, rows: Sequence[RequestRecord], keys: Sequence[str], window: Window, source: str = "auto"
) -> None:
    report = usage(ledger, window, keys, source=source)
    want = expected(rows, keys, window)
    got = {tuple(r.group[k] for k in keys): r for r in report.rows}
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        assert (g.requests, g.prompt_tokens, g.completion_tokens) == (
            w["requests"],
            w["prompt_tokens"],
            w["completion_tokens"],
        ), key
        assert (g.errors, g.client_errors, g.rate_limited) == (w["errors"], w["client_errors"], w["rate_limited"])
        assert g.usd == pytest.approx(w["usd"], rel=1e-9, abs=1e-12)
        if report.source == "rows":
            assert {f"p{p}": g.latency_ms[f"p{p}"] for p in PERCENTILES} == {f"p{p}": w[f"p{p}"] for p in PERCENTILES}
        else:
            assert all(close_enough(g.latency_ms[f"p{p}"], w[f"p{p}"]) for p in PERCENTILES), (key, g.latency_ms, w)
        assert g.mean_latency_ms == pytest.approx(w["mean"], rel=1e-9)
        assert g.guard == w["guard"], key
    total = report.total
    assert total.requests == sum(w["requests"] for w in want.values())
    assert total.prompt_tokens == sum(w["prompt_tokens"] for w in want.values())
    assert total.usd == pytest.approx(sum(w["usd"] for w in want.values()), rel=1e-9)
    assert sum(g.guard.get("input:pii:flag", 0) for g in report.rows) == total.guard.get("input:pii:flag", 0)


ledger = pgcluster.ledger  # SQLite and PostgreSQL


@pytest.mark.parametrize("keys", [("key", "model", "day"), (), ("status",), ("hour", "route")])
def test_bulk_rows_roll_up_exactly(ledger: Ledger, keys: tuple[str, ...]) -> None:
    rows = bulk_rows(1500)
    ledger.add_requests(lambda: rows).result()
    check(ledger, rows, keys, parse_window("7d"))  # part of the rows: the window cuts through them
    check(ledger, rows, keys, parse_window("30d"))
    check(ledger, rows, keys, parse_window("30d"), source="rows")
    report = usage(ledger, parse_window("30d"), keys)
    assert report.source == ("rows" if "status" in keys else "hourly")


def partial_windows(now: datetime) -> list[Window]:
    """Windows whose ends cut hours at odd minutes, fall on whole hours, or sit inside one hour."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return [
        Window(now - timedelta(hours=100, minutes=17, seconds=3), now - timedelta(hours=5, minutes=41)),
        Window(hour - timedelta(hours=48), hour - timedelta(hours=2)),  # whole hours only: no row is read
        Window(hour - timedelta(hours=30), now),  # the current hour, from the rows
        Window(hour - timedelta(hours=7, minutes=50), hour - timedelta(hours=7, minutes=5)),  # inside one hour
        Window(hour - timedelta(hours=8, minutes=50), hour - timedelta(hours=7, minutes=5)),  # two ends, no hour
    ]


@pytest.mark.parametrize("keys", [("key", "model", "day"), (), ("hour", "route")])
def test_the_hourly_rollup_equals_the_rows_at_partial_hours(ledger: Ledger, keys: tuple[str, ...]) -> None:
    rows = bulk_rows(1200, seed=3)
    ledger.add_requests(lambda: rows[:700]).result()
    for r in rows[700:900]:  # one by one, as the gateway writes a quiet stream
        ledger.add_request(r)
    ledger.add_requests(lambda: rows[900:]).result()
    for window in partial_windows(utcnow()):
        check(ledger, rows, keys, window, source="hourly")
        check(ledger, rows, keys, window, source="rows")


def test_a_batch_with_a_bad_row_counts_only_the_rows_written(ledger: Ledger) -> None:
    rows = bulk_rows(200, seed=4)
    ledger.add_requests(lambda: rows[:100]).result()
    again = [*rows[100:150], rows[3], *rows[150:]]  # rows[3] is there already: the batch goes in one by one
    assert ledger.add_requests(lambda: again).result() == 100
    check(ledger, rows, ("key", "model", "hour"), parse_window("30d"), source="hourly")


def test_an_old_ledger_gets_its_hourly_rollup_from_the_migration(ledger: Ledger) -> None:
    url = ledger._engine.url.render_as_string(hide_password=False)  # the same database, reopened below
    ledger.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # back to a ledger written before m009: no hourly tables
        for table in (tables.usage_hourly, tables.usage_hourly_guard):
            table.drop(conn)
        conn.execute(sa.delete(tables.schema_migrations).where(tables.schema_migrations.c.version == 9))
        rows = bulk_rows(800, seed=5)
        old = [{c.name: getattr(r, c.name) for c in tables.requests.columns} for r in rows]
        conn.execute(sa.insert(tables.requests), old)
        conn.execute(
            sa.insert(tables.requests),
            [{**old[0], "request_id": "end-of-hour", "time": datetime(2030, 1, 1, 10, 59, 59, 999999, tzinfo=UTC)}],
        )
    engine.dispose()
    with Ledger(url) as upgraded:
        assert upgraded.schema_version() == version_of(MIGRATIONS[-1])
        for window in [parse_window("30d"), *partial_windows(utcnow())]:
            check(upgraded, rows, ("key", "model", "day"), window, source="hourly")
        later = bulk_rows(100, seed=6)  # rows after the upgrade add to the backfilled hours
        upgraded.add_requests(lambda: later).result()
        check(upgraded, rows + later, ("key", "model", "hour"), parse_window("30d"))
        future = usage(upgraded, Window(datetime(2030, 1, 1, 10, tzinfo=UTC), datetime(2030, 1, 1, 12, tzinfo=UTC)))
        assert future.source == "hourly" and future.total.requests == 1


def test_status_groups_read_the_rows_and_a_bad_source_says_what_to_use(ledger: Ledger) -> None:
    with pytest.raises(ConfigError, match="group by status with source rows"):
        usage(ledger, parse_window("7d"), ("status",), source="hourly")
    with pytest.raises(ConfigError, match="use one of auto, hourly, rows"):
        usage(ledger, parse_window("7d"), (), source="fast")


def test_a_model_filter_and_an_empty_window(ledger: Ledger) -> None:
    rows = bulk_rows(300, seed=1)
    ledger.add_requests(lambda: rows).result()
    only = usage(ledger, parse_window("30d"), ("model",), model="tuned")
    assert [r.group["model"] for r in only.rows] == ["tuned"]
    assert only.total.requests == sum(r.model == "tuned" for r in rows)
    empty = usage(ledger, parse_window("2020-01-01..2020-01-31"), ("key",))
    assert empty.rows == [] and empty.total.requests == 0 and empty.total.latency_ms["p50"] is None


def test_unknown_groups_and_bad_windows_say_what_to_write() -> None:
    with pytest.raises(ConfigError, match="use any of key, model, day"):
        usage(None, parse_window("7d"), ("user",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="write 7d"):
        parse_window("last week")
    with pytest.raises(ConfigError, match="is empty"):
        parse_window("2026-11-30..2026-11-01")
    w = parse_window("2026-11-01..2026-11-30")
    assert (w.since.isoformat(), w.until.isoformat()) == ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")


def test_real_gateway_requests_roll_up_to_their_audit_rows(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact, cli: Any, home: Path
) -> None:
    with serve(tmp_path, llama, default_artifact, serving=None) as gw:
        ask = [{"role": "user", "content": "Say hello."}]
        plenty = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="plenty"), max_retries=0, timeout=60)
        one = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="one", rpm=1), max_retries=0, timeout=60)
        for _ in range(3):
            plenty.chat.completions.create(model="default", messages=ask, max_tokens=4)  # type: ignore[arg-type]
        one.chat.completions.create(model="default", messages=ask, max_tokens=4)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError):
            one.chat.completions.create(model="default", messages=ask, max_tokens=4)  # type: ignore[arg-type]
        assert httpx.post(f"{gw.base_url}/chat/completions", json={}).status_code == 401
        rows = gw.rows(6)
        assert len(rows) == 6
        window = parse_window("1h")
        check(gw.ledger, rows, ("key", "model", "day"), window)
        report = usage(gw.ledger, window, ("key",))
        by_key = {r.group["key"]: r.requests for r in report.rows}
        assert sorted(by_key.values()) == [1, 2, 3] and None in by_key  # the 401 has no key
        assert report.total.requests == 6 and report.total.rate_limited == 1 and report.total.client_errors == 1
        assert report.total.completion_tokens == sum(r.completion_tokens for r in rows) > 0
        db = f"sqlite:///{tmp_path / 'ledger.db'}"
        gw.ledger.flush()
        js = cli("monitor", "usage", "--since", "1h", "--by", "key", "--json", "--db", db)
        assert js.code == 0, js.err
        data = json.loads(js.out)
        assert data["total"]["requests"] == 6 and sum(r["requests"] for r in data["rows"]) == 6
        as_csv = cli("monitor", "usage", "--since", "1h", "--by", "model,status", "--csv", "--db", db)
        parsed = list(csv.DictReader(io.StringIO(as_csv.out)))
        assert as_csv.code == 0 and sum(int(r["requests"]) for r in parsed) == 6
        assert {(r["model"], r["status"]) for r in parsed} >= {("default", "200"), ("default", "429")}
        exact = cli("monitor", "usage", "--since", "3h", "--by", "key", "--json", "--exact", "--db", db)
        assert exact.code == 0 and json.loads(exact.out)["source"] == "rows"
        assert json.loads(exact.out)["total"]["requests"] == 6
        table = cli("monitor", "usage", "--since", "1h", "--by", "model", "--db", db)
        assert table.code == 0 and "p95 ms" in table.out and "total" in table.out
