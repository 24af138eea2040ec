"""Backend errors, turned at the ledger's boundary into LedgerError messages that say what to do next."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL

from weightwarden.errors import LedgerError
from weightwarden.ledger.engine import display

_VALUE_HINT = (
    "give JSON values (dict with str keys, list, str, int, float, bool, None; no NaN or infinity) "
    "and timezone-aware datetimes"
)


def reason(exc: BaseException) -> str:
    """The first line of what the database driver said, without SQLAlchemy's wrapping."""
    orig = exc.orig if isinstance(exc, sa.exc.StatementError) and exc.orig is not None else exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def open_error(exc: BaseException, url: URL) -> LedgerError:
    """Why the ledger at url cannot be opened, and what to do."""
    where, said = display(url), reason(exc)
    if url.get_backend_name() == "sqlite":
        if "not a database" in said or "malformed" in said:
            return LedgerError(
                f"{where} is not a SQLite database ({said}): point WARDEN_DB at a ledger file, "
                "or move this file away and a new ledger will be created in its place"
            )
        if "unable to open" in said:
            return LedgerError(f"cannot open the ledger file {where} ({said}): check its folder is writable")
        if "locked" in said:
            return LedgerError(f"the ledger {where} is locked by another process ({said}): wait, or stop that process")
        return LedgerError(f"cannot open the SQLite ledger {where}: {said}")
    if isinstance(exc, sa.exc.OperationalError):
        return LedgerError(
            f"cannot connect to the PostgreSQL ledger {where} ({said}): check that the server is running "
            "and that the host, port, user, password and database name in the URL are right"
        )
    return LedgerError(f"cannot open the PostgreSQL ledger {where}: {said}")


def write_error(what: str, exc: BaseException) -> LedgerError:
    """Why a write (described by `what`, e.g. "add 3 items to run X") failed, and what to do."""
    said = reason(exc)
    orig = exc.orig if isinstance(exc, sa.exc.StatementError) else exc
    if isinstance(orig, (TypeError, ValueError)):
        # UTCDateTime's own message already says what to pass.
        hint = "" if "timezone-aware" in said else f"; {_VALUE_HINT}"
        return LedgerError(f"could not {what}: {said}{hint}")
    if isinstance(exc, sa.exc.IntegrityError):
        return LedgerError(f"could not {what}: the database refused it ({said})")
    if "locked" in said:
        return LedgerError(f"could not {what}: the ledger is locked by another process ({said}); retry later")
    return LedgerError(f"could not {what}: {said}")


def read_error(what: str, exc: BaseException) -> LedgerError:
    """Why a read failed."""
    return LedgerError(f"could not read {what} from the ledger: {reason(exc)}")
