"""The watermark's settings and its secret key: where the key comes from, and the fingerprint that stands for it.

    WatermarkError(WardenError)     the watermark cannot be made or checked as asked

The key never leaves this module's objects: reports, the ledger and `repr` show only its fingerprint.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.config import Settings
from weightwarden.errors import ConfigError, WardenError

SCHEME = "kgw-lefthash/hmac-sha256/splitmix64/v1"
MIN_KEY_CHARS = 16
MAX_CONTEXT = 8
KEY_FILE_NAME = "watermark.key"
_FINGERPRINT_DOMAIN = b"weightwarden watermark key fingerprint\x00"


class WatermarkError(WardenError):
    """The watermark cannot be made or checked as asked."""


def fingerprint(key: bytes) -> str:
    """16 hex digits that name a key without revealing it (domain-separated sha256, so it is no plain key hash)."""
    return hashlib.sha256(_FINGERPRINT_DOMAIN + key).hexdigest()[:16]


@dataclass(frozen=True)
class WatermarkConfig:
    """One watermark: the secret key and the green-list parameters. Generation and detection must use the same.

    gamma: fraction of the vocabulary that is green for a context; delta: logit bias on green tokens;
    context_width: how many previous tokens seed the green list; key_source: where the key came from, for messages.
    """

    key: bytes = field(repr=False)
    gamma: float = 0.25
    delta: float = 2.0
    context_width: int = 1
    key_source: str = ""

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_CHARS:
            raise WatermarkError(
                f"the watermark key from {self.key_source or 'the caller'} is {len(self.key)} bytes; it needs at least "
                f"{MIN_KEY_CHARS}: make one with `warden watermark keygen`"
            )
        if not 0.0 < self.gamma < 1.0:
            raise ConfigError(f"watermark_gamma is {self.gamma}; it must be between 0 and 1 (0.25 is usual)")
        if self.delta < 0.0:
            raise ConfigError(f"watermark_delta is {self.delta}; it must be 0 or more (2.0 is usual)")
        if not 1 <= self.context_width <= MAX_CONTEXT:
            raise ConfigError(
                f"watermark_context is {self.context_width}; use 1 to {MAX_CONTEXT} previous tokens (1 is usual)"
            )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    def public(self) -> dict[str, Any]:
        """What reports and the ledger may keep: everything but the key."""
        return {
            "scheme": SCHEME,
            "key_fingerprint": self.fingerprint,
            "gamma": self.gamma,
            "delta": self.delta,
            "context_width": self.context_width,
        }


def new_key() -> str:
    """A fresh random key: 64 hex digits (256 bits)."""
    return secrets.token_hex(32)


def write_key_file(path: Path) -> str:
    """Write a new key to path, readable by its owner only; returns the key's fingerprint. Never overwrites."""
    path = path.expanduser()
    if path.exists():
        raise WatermarkError(f"{path} exists: keep it (text watermarked with it needs it) or move it away first")
    key = new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return fingerprint(key.encode())


def _read_key_file(path: Path) -> bytes:
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise WatermarkError(f"cannot read the watermark key file {path}: {exc.strerror}; check the path") from None
    if not data:
        raise WatermarkError(
            f"the watermark key file {path} is empty: write a key into it or run `warden watermark keygen`"
        )
    return data


def load_watermark_config(settings: Settings, *, create: bool = False) -> WatermarkConfig:
    """The watermark as configured: key from WARDEN_WATERMARK_KEY, else watermark_key_file, else HOME/watermark.key.

    create: when no key is configured anywhere, write a new one to HOME/watermark.key (for generation; detection
    must never invent a key, since a new key can only say "not watermarked").
    """
    params: dict[str, Any] = {
        "gamma": settings.watermark_gamma,
        "delta": settings.watermark_delta,
        "context_width": settings.watermark_context,
    }
    if settings.watermark_key:
        return WatermarkConfig(settings.watermark_key.encode(), key_source="WARDEN_WATERMARK_KEY", **params)
    if settings.watermark_key_file:
        path = Path(settings.watermark_key_file).expanduser()
        return WatermarkConfig(_read_key_file(path), key_source=str(path), **params)
    path = settings.home / KEY_FILE_NAME
    if not path.exists():
        if not create:
            raise WatermarkError(
                "no watermark key: set WARDEN_WATERMARK_KEY, set watermark_key_file, or run `warden watermark keygen` "
                f"(it writes {path})"
            )
        write_key_file(path)
    return WatermarkConfig(_read_key_file(path), key_source=str(path), **params)


def ephemeral_config(gamma: float = 0.25, delta: float = 2.0, context_width: int = 1) -> WatermarkConfig:
    """A watermark with a throw-away random key, for self-checks that must not touch the user's key."""
    return WatermarkConfig(new_key().encode(), gamma, delta, context_width, key_source="ephemeral")
