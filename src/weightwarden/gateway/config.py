"""What a gateway serves and how: its models (the routing table), its policy, its limits; defaults in one place.

A routing file (`warden serve --routes FILE`) maps public model names to what answers them:

    models:
      smol: {model: default}                                # in-process: default, a .gguf file or a model folder
      big: {upstream: http://gpu-box:8000/v1, model: meta-llama/Llama-3.1-8B-Instruct,
            api_key_env: VLLM_API_KEY, slots: 32}           # an OpenAI-compatible server (vLLM, llama.cpp, Ollama)
      pooled:                                               # a pool: several servers that serve one model
        upstreams: [http://gpu-a:8000/v1, http://gpu-b:8000/v1]
        model: meta-llama/Llama-3.1-8B-Instruct
        pool: {failures: 3, cooldown: 10, health_every: 5, health_path: /health}   # optional
      all-MiniLM-L6-v2: {embedder: default}                 # the bundled sentence embedder
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from weightwarden.errors import ConfigError
from weightwarden.gateway.policy import ServingPolicy, default_serving_policy
from weightwarden.watermark.base import WatermarkConfig

EMBEDDER_NAME = "all-MiniLM-L6-v2"
ModelKind = Literal["local", "upstream", "embedder"]
# Requests admitted at once, running or waiting, when a model names none. A llama.cpp context runs one request at a
# time, and a request in line would wait the rest of an answer (a 16-token answer takes about 0.5 s here) before its
# first token. So a local model admits the one it runs and one more in line, but the line opens only in the last
# LINE_WINDOW of the running request's expected time: the next request then starts at once, and the model does not
# sit idle between requests. Further clients get 429 with the time their turn would come (see gateway/queue.py).
# A request that comes at most PARK_WINDOW of an answer before the line opens waits for it instead of its 429 (PARK
# such requests at once, holding no slot): refused clients' retries miss the window now and then, and the model
# would then sit idle until one came back. LINE_WINDOW + PARK_WINDOW bounds that wait at about half an answer.
# An explicit `slots` admits that many at any time (more waiting, fewer refusals, later first tokens).
LINE_WINDOW = 0.25
PARK_WINDOW = 0.25
PARK = 1
DEFAULT_SLOTS: dict[str, int] = {"local": 2, "upstream": 8, "embedder": 8}


@dataclass(frozen=True)
class PoolSettings:
    """How a pool of upstream servers watches its members (see gateway/backends/pool.py).

    failures: consecutive failures (requests or health checks) that open a member's circuit breaker; cooldown:
    seconds an open breaker waits before it lets one trial request through (half-open); health_every: seconds
    between two health checks of every member; health_path: what a health check GETs, a path on the server's root
    (such as /health), or None for the base URL's /models, which every OpenAI-compatible server answers.
    """

    failures: int = 3
    cooldown: float = 10.0
    health_every: float = 5.0
    health_path: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """One public model name and what answers it.

    ref: for a local model, what `warden` resolves (default, a path); url and upstream_model: for an upstream.
    upstreams: for a pool, the base URLs of the servers that all serve upstream_model (url is then None); pool: how
    the pool checks them.
    slots: requests admitted at once (running or waiting); 0 for DEFAULT_SLOTS of the kind. runtime / embedder: an
    already loaded model to use instead of loading ref (tests, benchmarks); the gateway does not close it.
    model_hash: the ledger identity, computed when not given.
    """

    name: str
    kind: ModelKind = "local"
    ref: str = "default"
    url: str | None = None
    upstream_model: str | None = None
    api_key_env: str | None = None
    slots: int = 0
    runtime: Any = None
    embedder: Any = None
    model_hash: str | None = None
    line_window: float | None = None  # set with the default slots of a local model (see LINE_WINDOW)
    park_window: float = 0.0  # likewise (see PARK_WINDOW); 0 never parks
    park: int = 0  # how many requests may park at once (see PARK)
    upstreams: tuple[str, ...] = ()
    pool: PoolSettings = field(default_factory=PoolSettings)

    def __post_init__(self) -> None:
        if self.slots <= 0:
            object.__setattr__(self, "slots", DEFAULT_SLOTS[self.kind] * max(1, len(self.upstreams)))
            if self.kind == "local":
                object.__setattr__(self, "line_window", LINE_WINDOW)
                object.__setattr__(self, "park_window", PARK_WINDOW)
                object.__setattr__(self, "park", PARK)


@dataclass(frozen=True)
class GatewayConfig:
    """Everything create_app needs.

    policy: by default the guard's bundled policy, no text stored, free tokens.
    admin_key: the WARDEN_ADMIN_KEY secret, or None to use (or make) an admin key in the ledger.
    request_timeout: seconds from arrival to the last byte, after which the request ends with 504.
    default_max_tokens: for chat requests that name none; max_tokens_limit: the most any request may ask.
    """

    ledger_url: str
    models: tuple[ModelSpec, ...]
    policy: ServingPolicy = field(default_factory=default_serving_policy)
    admin_key: str | None = None
    max_body_bytes: int = 1 << 20
    request_timeout: float = 300.0
    default_max_tokens: int = 512
    max_tokens_limit: int = 4096
    n_ctx: int = 2048
    threads: int = 0
    upstream_timeout: float = 60.0
    hash_cache: Path | None = None
    retention_check_seconds: float = 3600.0
    alert_rules: Path | None = None  # a `warden monitor check` rules file, evaluated every alert_check_seconds
    alert_webhook: str | None = None  # where an alert is POSTed when rules start or stop firing
    alert_check_seconds: float = 300.0
    watermark: WatermarkConfig | None = None  # the key and parameters, required when the policy says watermark: true
    sketch_embed: Any = None  # an embed function already loaded, for request sketches (tests); None: the bundled one


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a whole number of at least 1")
    return value


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _api_key_env(entry: dict[str, Any], where: str) -> str | None:
    env = entry.get("api_key_env")
    if env is not None and not isinstance(env, str):
        raise ConfigError(f"{where}.api_key_env names an environment variable")
    return env


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where} must be a number of seconds above 0")
    return float(value)


def parse_pool(data: Any, where: str) -> PoolSettings:
    """The pool: settings of a route; every mistake is a ConfigError."""
    if data is None:
        return PoolSettings()
    known = {"failures", "cooldown", "health_every", "health_path"}
    if not isinstance(data, dict) or set(data) - known:
        raise ConfigError(f"{where} is a mapping with any of {', '.join(sorted(known))}")
    path = data.get("health_path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ConfigError(f"{where}.health_path is a path on the server, such as /health")
    default = PoolSettings()
    return PoolSettings(
        failures=_int(data["failures"], f"{where}.failures") if "failures" in data else default.failures,
        cooldown=_seconds(data["cooldown"], f"{where}.cooldown") if "cooldown" in data else default.cooldown,
        health_every=_seconds(data["health_every"], f"{where}.health_every")
        if "health_every" in data
        else default.health_every,
        health_path=path,
    )


def _pool_spec(name: str, entry: dict[str, Any], slots: int, where: str) -> ModelSpec:
    urls, model = entry["upstreams"], entry.get("model")
    if "upstream" in entry:
        raise ConfigError(f"{where}: write either upstream: URL (one server) or upstreams: [URL, ...] (a pool)")
    if not isinstance(urls, list) or not urls or not all(_url(u) for u in urls) or not isinstance(model, str):
        raise ConfigError(
            f"{where}: write upstreams: [http://host-a:port/v1, http://host-b:port/v1] and model: the upstream's "
            "model name"
        )
    cleaned = tuple(u.rstrip("/") for u in urls)
    if len(set(cleaned)) != len(cleaned):
        raise ConfigError(f"{where}.upstreams names a server twice: list each once")
    return ModelSpec(
        name,
        "upstream",
        upstream_model=model,
        api_key_env=_api_key_env(entry, where),
        slots=slots,
        upstreams=cleaned,
        pool=parse_pool(entry.get("pool"), f"{where}.pool"),
    )


def parse_routes(data: Any, source: str) -> tuple[ModelSpec, ...]:
    """The routing table of a routes file; every mistake is a ConfigError that says what to write."""
    if not isinstance(data, dict) or set(data) != {"models"} or not isinstance(data["models"], dict):
        raise ConfigError(f"{source}: a routes file is a mapping with one key, models: {{name: {{...}}}}")
    specs = []
    for name, entry in data["models"].items():
        where = f"{source}: models.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping such as {{model: default}} or {{upstream: URL, model: NAME}}")
        allowed = {"model", "upstream", "upstreams", "pool", "api_key_env", "slots", "embedder"}
        if unknown := set(entry) - allowed:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(allowed))}"
            )
        slots = _int(entry["slots"], f"{where}.slots") if "slots" in entry else 0
        if "embedder" in entry:
            if entry["embedder"] != "default":
                raise ConfigError(f"{where}.embedder: only the bundled embedder is served; write embedder: default")
            specs.append(ModelSpec(str(name), "embedder", slots=slots))
        elif "upstreams" in entry:
            specs.append(_pool_spec(str(name), entry, slots, where))
        elif "upstream" in entry:
            if "pool" in entry:
                raise ConfigError(f"{where}: pool settings need a pool: write upstreams: [URL, ...], not upstream")
            url, model = entry["upstream"], entry.get("model")
            if not _url(url) or not isinstance(model, str):
                raise ConfigError(f"{where}: write upstream: http://host:port/v1 and model: the upstream's model name")
            env = _api_key_env(entry, where)
            specs.append(
                ModelSpec(
                    str(name), "upstream", url=url.rstrip("/"), upstream_model=model, api_key_env=env, slots=slots
                )
            )
        else:
            ref = entry.get("model")
            if not isinstance(ref, str) or not ref:
                raise ConfigError(f"{where}.model: write default, a .gguf file or a model folder")
            specs.append(ModelSpec(str(name), "local", ref=ref, slots=slots))
    if not specs:
        raise ConfigError(f"{source}: models is empty: name at least one model")
    return tuple(specs)


def load_routes(path: Path | str) -> tuple[ModelSpec, ...]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the routes file {p}: {exc.strerror or exc}; check the path") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"the routes file {p} is not valid YAML: {exc}") from None
    return parse_routes(data, str(p))
