"""`warden keys`, `warden logs` and `warden serve` as a user runs them: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from openai_peer import free_port
from weightwarden.cli import keys, serve
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.watermark import fingerprint

# The lines that register these commands in cli/main.py, applied here if main.py does not have them yet.
RUNNER = """
import sys
from weightwarden.cli import keys, main, serve
names = {c.name for c in main.app.registered_commands}
if "serve" not in names:
    main.app.command(name="serve")(serve.serve)
    main.app.command(name="logs")(serve.logs)
    main.app.add_typer(keys.app, name="keys")
sys.argv = ["warden", *sys.argv[1:]]
main.main()
"""


# The same commands in-process, for the checks that need no real exit code (each subprocess costs a second or more).
app = typer.Typer()
app.command(name="logs")(serve.logs)
app.add_typer(keys.app, name="keys")


def run(home: Path, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=environment(home), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def environment(home: Path) -> dict[str, str]:
    env = {**os.environ, "WARDEN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("WARDEN_ADMIN_KEY", None)
    return env


def warden(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, timeout=300, env=environment(home)
    )


@pytest.mark.slow
def test_keys_create_list_revoke(tmp_path: Path) -> None:
    made = run(
        tmp_path,
        "keys",
        "create",
        "--name",
        "ci",
        "--models",
        "default,other",
        "--rpm",
        "60",
        "--tpm",
        "5000",
        "--budget-tokens",
        "100000",
        "--budget-usd",
        "2.5",
        "--expires",
        "30d",
        "--json",
    )
    key = json.loads(made)
    assert key["key"].startswith("ww-") and key["models"] == ["default", "other"] and key["budget_usd"] == 2.5
    assert key["rpm"] == 60 and key["tpm"] == 5000 and key["budget_tokens"] == 100000 and key["expires_at"]
    with pytest.raises(Exception, match="in the past"):
        CliRunner().invoke(
            app,
            ["keys", "create", "--name", "x", "--expires", "2001-01-01"],
            env=environment(tmp_path),
            catch_exceptions=False,
        )
    listed = json.loads(run(tmp_path, "keys", "list", "--json"))
    assert [(k["id"], k["status"]) for k in listed] == [(key["id"], "active")]
    assert "key" not in listed[0] and "hash" not in listed[0]
    plain = run(tmp_path, "keys", "create", "--name", "second")
    assert plain.strip().startswith("ww-") and len(plain.strip().splitlines()) == 1  # the secret alone on stdout
    assert "revoked" in run(tmp_path, "keys", "revoke", key["id"])
    table = run(tmp_path, "keys", "list")
    assert key["id"] in table and "revoked" in table and key["key"] not in table
    unknown = warden(tmp_path, "keys", "revoke", "key_nope")
    assert unknown.returncode == 2 and "no key 'key_nope'" in unknown.stderr and "Traceback" not in unknown.stderr


@pytest.mark.slow
def test_logs_filters_and_json(tmp_path: Path) -> None:
    now = utcnow()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        for n, (key, status, age) in enumerate(
            [("key_a", 200, 1), ("key_a", 429, 2), ("key_b", 200, 3), ("key_a", 200, 60 * 24 * 3)]
        ):
            ledger.add_request(
                RequestRecord(
                    request_id=f"{n:026d}",
                    time=now - timedelta(minutes=age),
                    route="/v1/chat/completions",
                    status=status,
                    key_id=key,
                    model="default",
                    error="rate_limit_exceeded" if status == 429 else None,
                    prompt_tokens=5,
                    completion_tokens=n,
                    verdicts={"input": [{"detector": "pii", "label": "pii", "action": "redact"}]},
                )
            )
    every = json.loads(run(tmp_path, "logs", "--json"))
    assert [r["request_id"][-1] for r in every] == ["0", "1", "2", "3"]
    assert set(every[0]) >= {
        "request_id",
        "time",
        "key_id",
        "model_hash",
        "route",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "ttft_ms",
        "total_ms",
        "cost_usd",
        "verdicts",
    }
    keyed = json.loads(run(tmp_path, "logs", "--json", "--key", "key_a", "--since", "1h"))
    assert [r["request_id"][-1] for r in keyed] == ["0", "1"]
    limited = json.loads(run(tmp_path, "logs", "--json", "--status", "429"))
    assert [r["error"] for r in limited] == ["rate_limit_exceeded"]
    old = json.loads(run(tmp_path, "logs", "--json", "--until", "1d", "--model", "default"))
    assert [r["request_id"][-1] for r in old] == ["3"]
    assert len(json.loads(run(tmp_path, "logs", "--json", "--limit", "2"))) == 2
    table = run(tmp_path, "logs")
    assert "rate_limit_exceeded" in table and "input:pii" in table
    bad = warden(tmp_path, "logs", "--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr


@pytest.mark.slow
def start_serve(home: Path, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    """`warden serve default` in a subprocess with a new home: (the process, the admin key it printed, its URL),
    once /health answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", "default", "--port", str(port), "--no-embedder", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(home),
    )
    assert proc.stdout is not None
    admin = proc.stdout.readline().strip()
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while admin.startswith("ww-") and proc.poll() is None and time.time() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, admin, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"warden serve did not come up (it printed {admin!r})")


def test_serve_prints_the_admin_key_once_and_obeys_revocation(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("watermark: true\ninput: {}\noutput: {}\n")  # no key yet: serve makes one in HOME
    proc, admin, base = start_serve(tmp_path, "--policy", str(policy))
    try:
        auth = {"Authorization": f"Bearer {admin}"}
        made = httpx.post(f"{base}/admin/keys", headers=auth, json={"name": "app"}).json()
        user = {"Authorization": f"Bearer {made['key']}"}
        body = {"model": "default", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 3}
        assert httpx.post(f"{base}/v1/chat/completions", headers=user, json=body, timeout=120).status_code == 200
        assert warden(tmp_path, "keys", "revoke", made["id"]).returncode == 0  # another process, the same ledger
        refused = httpx.post(f"{base}/v1/chat/completions", headers=user, json=body, timeout=60)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "key_revoked"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    listed = json.loads(run(tmp_path, "keys", "list", "--json"))
    assert {k["name"] for k in listed} == {"admin", "app"}, "the admin key is stored (hashed) like any key"
    rows = json.loads(run(tmp_path, "logs", "--json", "--route", "/v1/chat/completions"))
    assert [r["status"] for r in rows] == [401, 200]
    key = (tmp_path / "watermark.key").read_bytes().strip()
    assert rows[1]["watermark"] == fingerprint(key) and rows[0]["watermark"] is None  # the refused one made nothing
    # A second start finds the admin key and prints none.
    again = subprocess.run(
        [sys.executable, "-c", RUNNER, "serve", "default", "--port", "1", "--routes", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        env=environment(tmp_path),
        timeout=300,
    )
    assert again.returncode == 2 and "cannot read the routes file" in again.stderr and "ww-" not in again.stdout


def test_serve_stopped_by_sigterm_keeps_every_row_and_sketch_it_queued(tmp_path: Path) -> None:
    """SIGTERM right after the last answer: uvicorn shuts the app down and then raises the signal again, which
    ended the process before the CLI closed its ledger, so writes still queued (often the sketches, made once
    the embedder had loaded) were lost. The gateway now commits what is queued as it shuts down."""
    proc, admin, base = start_serve(tmp_path)
    try:
        auth = {"Authorization": f"Bearer {admin}"}
        body = {"model": "default", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2}
        for _ in range(3):
            assert httpx.post(f"{base}/v1/chat/completions", headers=auth, json=body, timeout=120).status_code == 200
    finally:
        proc.terminate()
        code = proc.wait(timeout=60)
    assert code in (0, -signal.SIGTERM), proc.stderr.read() if proc.stderr else code
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        rows = ledger.requests(route="/v1/chat/completions")
        sketches = ledger.sketches()
    assert len(rows) == 3 and all(r.status == 200 for r in rows)
    assert {s.request_id for s in sketches} == {r.request_id for r in rows}


@pytest.mark.parametrize("text", ["3d", "2026-01-01T00:00:00+02:00", "2026-01-01"])
def test_log_times_parse(text: str) -> None:
    when = serve.parse_time(text, "--since")
    assert when is not None and when.utcoffset() is not None and when.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
