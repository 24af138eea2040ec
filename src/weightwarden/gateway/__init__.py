"""The gateway: an OpenAI-compatible HTTP API in front of local or upstream models, with keys, limits, budgets,
the guard on input and output, and an audit row per request in the ledger.

    from weightwarden.gateway import GatewayConfig, ModelSpec, create_app
    app = create_app(GatewayConfig(ledger_url="sqlite:///ledger.db", models=(ModelSpec("default"),)))
"""

from typing import TYPE_CHECKING, Any

from weightwarden.gateway.config import EMBEDDER_NAME, GatewayConfig, ModelSpec, load_routes
from weightwarden.gateway.policy import ServingPolicy, default_serving_policy, load_serving_policy

if TYPE_CHECKING:
    from weightwarden.gateway.app import create_app

__all__ = [
    "EMBEDDER_NAME",
    "GatewayConfig",
    "ModelSpec",
    "ServingPolicy",
    "create_app",
    "default_serving_policy",
    "load_routes",
    "load_serving_policy",
]


def __getattr__(name: str) -> Any:
    # FastAPI is imported only when an app is made, so `warden keys` and `warden logs` start quickly.
    if name == "create_app":
        from weightwarden.gateway.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
