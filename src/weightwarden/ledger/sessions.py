"""The dashboard's signed-in sessions in the ledger: one row per session, keyed by the sha256 of its cookie."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from weightwarden.ledger import schema
from weightwarden.ledger.records import UiSessionRecord, utcnow


class UiSessions:
    """Session rows, as methods of the Ledger (which provides _write and _read)."""

    def _write(self, what: str, work: Callable[[Connection], Any]) -> Any:  # pragma: no cover - Ledger's own
        raise NotImplementedError

    def _read(self, what: str, stmt: sa.Select[Any]) -> list[dict[str, Any]]:  # pragma: no cover - Ledger's own
        raise NotImplementedError

    def add_ui_session(self, rec: UiSessionRecord) -> None:
        """Record a signed-in dashboard session, and forget the sessions that have expired."""
        t = schema.ui_sessions

        def work(conn: Connection) -> None:
            conn.execute(sa.delete(t).where(t.c.expires_at <= utcnow()))
            conn.execute(sa.insert(t).values(**asdict(rec)))

        self._write("add a dashboard session", work)

    def ui_session(self, id_hash: str) -> UiSessionRecord | None:
        """The session whose cookie has this sha256 (expired or not), or None."""
        rows = self._read("a session", sa.select(schema.ui_sessions).where(schema.ui_sessions.c.id_hash == id_hash))
        return UiSessionRecord(**rows[0]) if rows else None

    def delete_ui_session(self, id_hash: str) -> None:
        """Forget a session (sign-out, expiry); forgetting one that is gone does nothing."""
        t = schema.ui_sessions
        self._write("delete a session", lambda conn: conn.execute(sa.delete(t).where(t.c.id_hash == id_hash)))
