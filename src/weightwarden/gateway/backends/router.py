"""Public model names to backends: built from the config's specs, checked against what each key may use."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence

from weightwarden.errors import CapabilityError
from weightwarden.gateway.auth import Caller
from weightwarden.gateway.backends.base import Backend
from weightwarden.gateway.backends.embedder import EmbedderModel
from weightwarden.gateway.backends.local import LocalModel
from weightwarden.gateway.backends.pool import UpstreamPool
from weightwarden.gateway.backends.upstream import UpstreamModel
from weightwarden.gateway.config import GatewayConfig, ModelSpec
from weightwarden.gateway.errors import Forbidden, NotFound
from weightwarden.gateway.metrics import Metrics
from weightwarden.runtimes import HashCache, load_runtime, resolve


def build_backend(spec: ModelSpec, config: GatewayConfig, cache: HashCache, metrics: Metrics | None = None) -> Backend:
    """Load (or wrap) what answers one spec; metrics: where a pool exports its members' series."""
    if spec.kind == "embedder":
        return EmbedderModel(spec, cache)
    if spec.kind == "upstream" and spec.upstreams:
        return UpstreamPool(spec, config.upstream_timeout, metrics)
    if spec.kind == "upstream":
        return UpstreamModel(spec, config.upstream_timeout)
    if spec.runtime is not None:
        digest = spec.model_hash or _hash_of_loaded(spec, cache)
        return LocalModel(spec, spec.runtime, digest, owned=False)
    artifact = resolve(spec.ref, cache)
    runtime = load_runtime(artifact, n_ctx=config.n_ctx, threads=config.threads, timeout=config.upstream_timeout)
    return LocalModel(spec, runtime, spec.model_hash or artifact.sha256, owned=True)


def _hash_of_loaded(spec: ModelSpec, cache: HashCache) -> str:
    """The identity of a runtime handed in already loaded: its file's hash, or that of nothing when it has none."""
    path = getattr(spec.runtime, "path", None)  # ModelSpec.runtime is whatever the caller loaded
    return resolve(str(path), cache).sha256 if path else hashlib.sha256(b"").hexdigest()


class Router:
    """Public model names to backends."""

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends = {b.name: b for b in backends}
        if len(self.backends) != len(backends):
            raise CapabilityError("two models have the same public name: give each a different name")

    def get(self, name: str, caller: Caller) -> Backend:
        """The backend for name, if the caller may use it; NotFound or Forbidden otherwise."""
        backend = self.backends.get(name)
        if backend is None:
            known = ", ".join(n for n in self.backends if caller.may_use(n)) or "none"
            raise NotFound(f"no model {name!r} here; this key may use: {known}", code="model_not_found", param="model")
        if not caller.may_use(name):
            raise Forbidden(f"this key may not use model {name!r}", code="model_not_allowed", param="model")
        return backend

    def visible(self, caller: Caller) -> list[Backend]:
        return [b for name, b in self.backends.items() if caller.may_use(name)]

    def close(self) -> None:
        for backend in self.backends.values():
            with contextlib.suppress(Exception):
                backend.close()
