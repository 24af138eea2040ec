"""What answers a public model name: an in-process runtime, an upstream server, or the bundled embedder, each a
Backend that declares its Capabilities."""

from weightwarden.gateway.backends.base import Backend, Capabilities, Prompt, refusal, require
from weightwarden.gateway.backends.router import Router, build_backend

__all__ = ["Backend", "Capabilities", "Prompt", "Router", "build_backend", "refusal", "require"]
