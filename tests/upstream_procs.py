"""Real upstream servers for pool tests and benchmarks: `warden serve default` in its own process on a loopback
port, one llama.cpp thread each (WARDEN_THREADS=1), no guard, a line of 8 so that concurrent requests wait rather
than get 429."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from openai_peer import free_port

UPSTREAM_SECRET = "ww-pool-upstream-secret"  # each upstream's WARDEN_ADMIN_KEY, which the pool sends


class Upstream:
    """One `warden serve` process; start() again after kill() brings it back on the same port."""

    def __init__(self, home: Path, port: int | None = None, threads: int = 1) -> None:
        self.home, self.port, self.threads = home, port or free_port(), threads
        self.proc: subprocess.Popen[bytes] | None = None
        home.mkdir(parents=True, exist_ok=True)
        (home / "routes.yaml").write_text("models:\n  default: {model: default, slots: 8}\n")
        (home / "policy.yaml").write_text("input: {}\noutput: {}\nsketches: false\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Upstream:
        env = {
            **os.environ,
            "WARDEN_HOME": str(self.home),
            "WARDEN_THREADS": str(self.threads),
            "WARDEN_ADMIN_KEY": UPSTREAM_SECRET,
        }
        args = ["serve", "--routes", "routes.yaml", "--policy", "policy.yaml", "--no-embedder", "--quiet"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "weightwarden.cli.main", *args, "--port", str(self.port)],
            cwd=self.home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.home / "serve.log", "ab"),  # noqa: SIM115 - the child owns it
        )
        return self

    def wait(self, timeout: float = 180.0) -> None:
        """Until it answers /health (imports take a while on a busy machine)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"upstream on {self.port} exited: {(self.home / 'serve.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"upstream on {self.port} did not start in {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL: the process dies at once, mid-answer, as a crashed server does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
