"""What `warden bench` runs against: a backend named on the command line, resolved and loaded, and how its answers
are streamed when several clients ask at once.

A backend is a model reference, optionally prefixed with the local runtime to run it with:
`default`, `model.gguf`, `./hf-folder` (the runtime `auto` picks), `llama.cpp:REF`, `transformers:REF` (a GGUF file
is dequantized), or `openai:http://host:port/v1#model` (any OpenAI-compatible server).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlparse

import httpx

from weightwarden.bench.remote_stream import RemoteStreamer
from weightwarden.config import Settings
from weightwarden.errors import ConfigError, RemoteError
from weightwarden.runtimes import Artifact, Backend, Chunk, GenerationParams, HashCache, Message, Runtime, resolve
from weightwarden.runtimes import load_runtime as load

RUNTIME_PREFIXES: tuple[Backend, ...] = ("llama.cpp", "transformers")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
API_KEY_ENV = "OPENAI_API_KEY"  # the key sent to openai: backends (a weightwarden gateway needs one)


@dataclass(frozen=True)
class BackendSpec:
    """One backend as the user named it: label (what they typed), the model reference and the local runtime."""

    label: str
    ref: str
    runtime: Backend = "auto"

    @property
    def remote(self) -> bool:
        return self.ref.startswith("openai:")


def parse_backend(text: str) -> BackendSpec:
    """`[llama.cpp:|transformers:]REF` or `openai:URL#model`; the reference itself is checked when it is resolved."""
    label = text.strip()
    if not label:
        raise ConfigError("an empty backend name: pass `default`, a model path or openai:http://host:port/v1#model")
    for prefix in RUNTIME_PREFIXES:
        if label.startswith(prefix + ":"):
            ref = label[len(prefix) + 1 :]
            if not ref or ref.startswith("openai:"):
                raise ConfigError(
                    f"backend {label!r}: {prefix}: runs a local model, e.g. {prefix}:default or {prefix}:model.gguf"
                )
            return BackendSpec(label, ref, prefix)
    return BackendSpec(label, label)


def runs_here(artifact: Artifact) -> bool:
    """Whether the model runs on this machine (a local runtime, or a server on loopback), so that this machine's
    measured energy is the energy its answers cost."""
    if artifact.format != "remote":
        return True
    host = urlparse(artifact.base_url or "").hostname or ""
    return host in LOOPBACK


class LocalQueue:
    """One runtime behind one worker thread that answers streamed requests in arrival order (FIFO).

    A local model answers one request at a time (a llama.cpp context is not thread-safe), as `warden serve`'s local
    backend does with its one worker: N clients share one decode stream, and their first tokens wait in the queue.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._jobs: queue.Queue[tuple[Sequence[Message], GenerationParams, queue.Queue[Any]] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="bench-local-worker", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            messages, params, out = job
            try:
                for chunk in self.runtime.chat_stream(messages, params):
                    out.put(chunk)
                out.put(None)
            except Exception as exc:  # handed to the client thread, which raises it
                out.put(exc)

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        out: queue.Queue[Any] = queue.Queue()
        self._jobs.put((messages, params, out))
        while (item := out.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield cast(Chunk, item)

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=60)


class Target:
    """A loaded backend: its runtime (for the eval items) and a streamer for the timed chat requests."""

    def __init__(self, spec: BackendSpec, artifact: Artifact, runtime: Runtime, api_key: str) -> None:
        self.spec = spec
        self.artifact = artifact
        self.runtime = runtime
        self.here = runs_here(artifact)
        self._local = None if artifact.format == "remote" else LocalQueue(runtime)
        self._remote = (
            RemoteStreamer(artifact.base_url or "", artifact.remote_model or "", api_key)
            if artifact.format == "remote"
            else None
        )

    @property
    def runtime_name(self) -> str:
        return self.runtime.info.name

    @property
    def concurrency(self) -> str:
        """How concurrent clients reach this backend, in words for the report."""
        if self._remote is not None:
            return "concurrent HTTP streams"
        return "one runtime, FIFO queue"

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        if self._remote is not None:
            return self._remote.stream(messages, params)
        assert self._local is not None
        return self._local.stream(messages, params)

    @property
    def throttled(self) -> int:
        return self._remote.throttled if self._remote is not None else 0

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        if self._remote is not None:
            self._remote.close()
        self.runtime.close()


def resolve_backend(spec: BackendSpec, s: Settings) -> Artifact:
    return resolve(spec.ref, HashCache(s.home / "hash-cache.json"))


def check_reachable(artifact: Artifact) -> None:
    """Ask a remote backend for its model list now, so a dead endpoint or a refused key fails before any work."""
    if artifact.format != "remote":
        return
    url = (artifact.base_url or "") + "/models"
    headers = {"Authorization": f"Bearer {os.environ.get(API_KEY_ENV) or 'none'}"}
    try:
        response = httpx.get(url, headers=headers, timeout=10)
    except httpx.HTTPError:
        raise RemoteError(
            f"cannot reach {artifact.base_url} (backend {artifact.ref}): is the server running and the URL right?"
        ) from None
    if response.status_code in (401, 403):
        raise RemoteError(f"{artifact.base_url} refused the API key: set {API_KEY_ENV} to a key it accepts")
    if response.status_code != 200:
        raise RemoteError(f"{url} answered {response.status_code}: is {artifact.base_url} an OpenAI-compatible API?")


def open_backend(spec: BackendSpec, artifact: Artifact, s: Settings) -> Target:
    """Load the backend (a remote one is asked for its model list first, so a dead endpoint fails here)."""
    api_key = os.environ.get(API_KEY_ENV) or "none"
    runtime = load(artifact, spec.runtime, n_ctx=s.n_ctx, threads=s.threads, timeout=s.timeout, api_key=api_key)
    return Target(spec, artifact, runtime, api_key)
