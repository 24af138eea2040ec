"""API keys: `ww-` secrets shown once and stored as sha256, checked on every request but /health.

A key may be limited to some models, may expire and may be revoked; the ledger is read on every request, so a
key revoked with `warden keys revoke` in another process stops working at once. The admin key (ids `admin_...`,
or the WARDEN_ADMIN_KEY secret, which is never stored) may also use the admin routes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from weightwarden.errors import ConfigError
from weightwarden.gateway.errors import GatewayError, Unauthorized, as_gateway_error, error_response
from weightwarden.ledger import ApiKeyRecord, Ledger
from weightwarden.ledger.records import utcnow

SECRET_PREFIX = "ww-"
ADMIN_PREFIX = "admin_"
ENV_ADMIN_ID = "admin"
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_secret() -> str:
    """A new key secret: `ww-` and 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_key_id(admin: bool = False) -> str:
    """A short id to name a key by (in logs, `warden keys revoke`); it is not a secret."""
    return (ADMIN_PREFIX if admin else "key_") + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


_DURATION = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """When a key expires: `30d`, `12h`, `90m`, `2w`, an ISO date or datetime (UTC if no zone), or `never`."""
    if text is None or text.strip().lower() in ("", "never"):
        return None
    now = now or utcnow()
    value = text.strip()
    if match := _DURATION.fullmatch(value.lower()):
        when = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(
                f"cannot read the expiry {text!r}: use a duration like 30d, 12h, 90m, 2w, or a date like 2026-12-31"
            ) from None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        raise ConfigError(f"the expiry {text!r} is in the past: give a future date or a duration")
    return when


def describe_key(key: ApiKeyRecord) -> dict[str, Any]:
    """A key as JSON, as the admin routes and `warden keys` show it: everything but its hash."""
    view = asdict(key)
    view.pop("hash")
    for name in ("created_at", "expires_at", "revoked_at"):
        view[name] = view[name].isoformat() if view[name] else None
    return view


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key from the ledger (record) or the WARDEN_ADMIN_KEY secret (no record, no limits)."""

    key_id: str
    name: str
    admin: bool
    record: ApiKeyRecord | None = None

    def may_use(self, model: str) -> bool:
        return self.admin or self.record is None or not self.record.models or model in self.record.models


class KeyStore:
    """Create, check and revoke keys in the ledger.

    admin_secret: the WARDEN_ADMIN_KEY secret; when given, it is the admin key and none is created in the ledger.
    """

    def __init__(self, ledger: Ledger, admin_secret: str | None = None) -> None:
        self.ledger = ledger
        self._admin_hash = hash_secret(admin_secret) if admin_secret else None

    def create(
        self,
        name: str,
        *,
        models: list[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_tokens: int | None = None,
        budget_usd: float | None = None,
        expires_at: datetime | None = None,
        admin: bool = False,
    ) -> tuple[str, ApiKeyRecord]:
        """Make a key; return its secret (shown once, never stored) and its record."""
        secret = new_secret()
        record = ApiKeyRecord(
            id=new_key_id(admin),
            name=name,
            hash=hash_secret(secret),
            models=list(models or []),
            rpm=rpm,
            tpm=tpm,
            budget_tokens=budget_tokens,
            budget_usd=budget_usd,
            expires_at=expires_at,
        )
        self.ledger.add_api_key(record)
        return secret, record

    def ensure_admin(self) -> str | None:
        """Make an admin key if there is none; return its secret (to print once), or None if one exists."""
        if self._admin_hash is not None:
            return None
        now = utcnow()
        for key in self.ledger.api_keys():
            live = key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
            if key.id.startswith(ADMIN_PREFIX) and live:
                return None
        secret, _ = self.create("admin", admin=True)
        return secret

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller an `Authorization: Bearer ww-...` header names; raises Unauthorized."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("no API key: send the header `Authorization: Bearer ww-...`", code="missing_api_key")
        digest = hash_secret(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Caller(ENV_ADMIN_ID, "admin (WARDEN_ADMIN_KEY)", admin=True)
        record = self.ledger.api_key_by_hash(digest)
        if record is None:
            raise Unauthorized("invalid API key: check it, or ask for a new one (`warden keys create`)")
        return self._live(record)

    def caller(self, key_id: str) -> Caller:
        """The caller of a key id (a dashboard session keeps the id); Unauthorized when the key no longer works."""
        if key_id == ENV_ADMIN_ID and self._admin_hash is not None:
            return Caller(ENV_ADMIN_ID, "admin (WARDEN_ADMIN_KEY)", admin=True)
        record = self.ledger.api_key(key_id)
        if record is None:
            raise Unauthorized(f"API key {key_id} is not in the ledger: sign in again")
        return self._live(record)

    def _live(self, record: ApiKeyRecord) -> Caller:
        """The caller of a key record, unless it was revoked or has expired (Unauthorized)."""
        if record.revoked_at is not None:
            raise Unauthorized(f"API key {record.id} was revoked: ask for a new one", code="key_revoked")
        if record.expires_at is not None and record.expires_at <= utcnow():
            raise Unauthorized(
                f"API key {record.id} expired at {record.expires_at:%Y-%m-%d %H:%M} UTC: ask for a new one",
                code="key_expired",
            )
        return Caller(record.id, record.name, record.id.startswith(ADMIN_PREFIX), record)


class KeyGate:
    """ASGI middleware: every request except to the open paths (and those under open_prefixes) needs a valid key.

    on_refused(scope, error) is told of every refusal (for the audit row); the caller goes into scope["state"].
    """

    def __init__(
        self,
        app: ASGIApp,
        keys: KeyStore,
        on_refused: Callable[[Scope, GatewayError], None],
        open_paths: tuple[str, ...] = ("/health",),
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app, self.keys, self.on_refused, self.open_paths = app, keys, on_refused, open_paths
        self.open_prefixes = tuple(p.rstrip("/") for p in open_prefixes)

    def _open(self, path: str) -> bool:
        """Whether path needs no key: an open path, or a path under an open prefix (the dashboard signs in itself)."""
        return path in self.open_paths or any(path == p or path.startswith(p + "/") for p in self.open_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        try:
            caller = await anyio.to_thread.run_sync(self.keys.authenticate, header)
        except Exception as exc:
            err = as_gateway_error(exc)
            self.on_refused(scope, err)
            await error_response(err)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)
