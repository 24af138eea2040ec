"""Helpers for the gateway tests: a real app on a free loopback port over the session's llama.cpp runtime."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openai_peer import PeerServer
from weightwarden.gateway import GatewayConfig, ModelSpec, create_app
from weightwarden.gateway.auth import KeyStore
from weightwarden.gateway.policy import ServingPolicy, parse_serving_policy
from weightwarden.gateway.service import Gateway
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

ADMIN = "ww-test-admin-secret"
NO_GUARD = {"input": {}, "output": {}}


def policy(**data: Any) -> ServingPolicy:
    """A serving policy from YAML-like data (without input/output keys: the guard's bundled policy)."""
    return parse_serving_policy(data, "test policy")


class Running:
    """A gateway app served by uvicorn, with its ledger and config."""

    def __init__(self, server: PeerServer, ledger: Ledger, config: GatewayConfig, gateway: Gateway) -> None:
        self.server, self.ledger, self.config, self.gateway = server, ledger, config, gateway

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def root(self) -> str:
        return self.server.base_url.removesuffix("/v1")

    def key(self, **limits: Any) -> str:
        """A new key's secret; limits are KeyStore.create's keyword arguments."""
        secret, _ = KeyStore(self.ledger).create(limits.pop("name", "test"), **limits)
        return secret

    def key_id(self, secret: str) -> str:
        return self.gateway.keys.authenticate(f"Bearer {secret}").key_id

    def idle(self, timeout: float = 30.0, model: str = "default") -> bool:
        """Whether the model's queue empties within timeout seconds."""
        queue = self.gateway.router.backends[model].queue
        deadline = time.time() + timeout
        while queue.in_flight and time.time() < deadline:
            time.sleep(0.02)
        return queue.in_flight == 0

    def rows(self, n: int = 1, timeout: float = 30.0, **filters: Any) -> list[RequestRecord]:
        """At least n audit rows matching filters, newest first (rows of streams are written when they end)."""
        deadline = time.time() + timeout
        while True:
            self.ledger.flush()
            found = self.ledger.requests(**filters)
            if len(found) >= n or time.time() > deadline:
                return found
            time.sleep(0.05)


@contextmanager
def serve(
    tmp: Path,
    llama: LlamaCppRuntime | None,
    artifact: Artifact | None = None,
    *,
    extra: tuple[ModelSpec, ...] = (),
    slots: int = 8,
    serving: ServingPolicy | None = None,
    ui: bool = False,
    **settings: Any,
) -> Iterator[Running]:
    """Serve llama as `default` (plus extra models) with the admin key ADMIN; settings go to GatewayConfig.

    ui: mount the dashboard at /ui, as `warden serve` does.
    """
    models: tuple[ModelSpec, ...] = ()
    if llama is not None:
        digest = artifact.sha256 if artifact is not None else None
        models = (ModelSpec("default", runtime=llama, model_hash=digest, slots=slots),)
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
    config = GatewayConfig(
        ledger_url=f"sqlite:///{tmp / 'ledger.db'}",
        models=models + extra,
        # Without a policy: no guard and no request sketches (the sketch worker would load the embedder in every
        # test's gateway); tests of sketches pass a policy.
        policy=serving if serving is not None else policy(sketches=False, **NO_GUARD),
        admin_key=ADMIN,
        hash_cache=tmp / "hash-cache.json",
        **settings,
    )
    try:
        app = create_app(config, ledger=ledger, open_prefixes=("/ui",) if ui else ())
        if ui:
            from weightwarden.ui import UiContext, mount_ui

            gw = app.state.gateway
            mount_ui(app, UiContext(ledger, gw.keys, gateway=gw))
        with PeerServer(app) as server:
            yield Running(server, ledger, config, app.state.gateway)
    finally:
        ledger.close()
