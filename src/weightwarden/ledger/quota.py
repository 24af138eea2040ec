"""A key's limits, decided in the database, so that every gateway on one ledger enforces them together.

Each function runs inside one write transaction (the ledger's writer gives it the connection) and is atomic there:

- Budgets (tokens, USD) are one conditional UPDATE: `reserved += n WHERE spent + reserved + n <= budget`. Two
  gateways that reserve at the same moment are ordered by the row lock the UPDATE takes; on PostgreSQL the second
  one re-checks its WHERE against the row the first committed (READ COMMITTED re-evaluates an updated row), so
  the sum of what is spent and reserved never passes a budget. One statement, one round trip, no lock held across
  round trips.
- Requests and tokens per minute are sliding windows over rate_events. Counting the rows in the window and adding
  one must not interleave with another gateway doing the same, so these lock the key's api_keys row first
  (SELECT ... FOR UPDATE; on SQLite the writer's BEGIN IMMEDIATE already holds the whole database), then read the
  window, then write. Only keys with an rpm or tpm take that lock.
- Each reservation is also a row of reservations, deleted when its request settles. A replica that dies leaves
  its rows behind; once their expires_at (the request's time limit) has passed, the next reservation that the key's
  limits would refuse gives them back first and tries again. Nothing runs in the background for it.

Why not advisory locks: they would guard the same row with a lock that lives outside it (a number both sides must
agree on, held until commit or forgotten on a pooled connection), and SQLite has none; a row lock is released by
the transaction that took it and the same SQL runs on both databases. Why not Redis: it is a second store that
must agree with the ledger, where the spend is recorded; LiteLLM's multi-instance limits, kept in Redis beside
its database, have let `limit x replicas` through more than once. Here the reservation and the spend are columns
of the same row.

Times are Unix seconds from the gateway's clock: replicas must keep their clocks in step (NTP); a replica whose
clock is off by s seconds shifts its view of the window by s.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from weightwarden.ledger import schema

_keys = schema.api_keys
_events = schema.rate_events
_reservations = schema.reservations

# The statements of the request path, built once (building a statement costs more than running it on SQLite).
_k, _e, _r = _keys.c, _events.c, _reservations.c
_KEY: sa.BindParameter[str] = sa.bindparam("kid", type_=sa.String)
_N: sa.BindParameter[int] = sa.bindparam("n", type_=sa.BigInteger)
_USD: sa.BindParameter[float] = sa.bindparam("usd_n", type_=sa.Float)
_HORIZON: sa.BindParameter[float] = sa.bindparam("horizon", type_=sa.Float)
_LOCK = sa.select(_keys).where(_k.id == _KEY).with_for_update()
_READ = sa.select(_keys).where(_k.id == _KEY)
_FORGET = sa.delete(_events).where(_e.key_id == _KEY, _e.at <= _HORIZON)
_WINDOW = sa.select(
    sa.func.coalesce(sa.func.sum(_e.requests), 0),
    sa.func.coalesce(sa.func.sum(_e.tokens), 0),
    sa.func.min(sa.case((_e.requests > 0, _e.at))),
    sa.func.min(sa.case((_e.tokens > 0, _e.at))),
).where(_e.key_id == _KEY, _e.at > _HORIZON)
_ADD_EVENT = sa.insert(_events)
_RESERVE = (
    sa.update(_keys)
    .where(
        _k.id == _KEY,
        sa.or_(_k.budget_tokens.is_(None), _k.spent_tokens + _k.reserved_tokens + _N <= _k.budget_tokens),
        sa.or_(_k.budget_usd.is_(None), _k.spent_usd + _k.reserved_usd + _USD <= _k.budget_usd),
    )
    .values(reserved_tokens=_k.reserved_tokens + _N, reserved_usd=_k.reserved_usd + _USD)
)
_ADD_RESERVATION = sa.insert(_reservations)
_GROW_RESERVATION = (
    sa.update(_reservations).where(_r.id == sa.bindparam("rid")).values(tokens=_r.tokens + _N, usd=_r.usd + _USD)
)
_DROP_RESERVATION = sa.delete(_reservations).where(_r.id == sa.bindparam("rid"))
_LEFT = _k.reserved_tokens - _N
_GIVE_BACK = (
    sa.update(_keys)
    .where(_k.id == _KEY)
    .values(
        reserved_tokens=_LEFT,
        # Sums of floats drift: with nothing left in flight the USD in flight is exactly zero again.
        reserved_usd=sa.case((_LEFT <= 0, 0.0), else_=_k.reserved_usd - _USD),
        spent_tokens=_k.spent_tokens + sa.bindparam("used_n", type_=sa.BigInteger),
        spent_usd=_k.spent_usd + sa.bindparam("used_usd", type_=sa.Float),
    )
)


@dataclass(frozen=True)
class Quota:
    """A key's limits and use as the database saw them when it refused a request.

    refused: rpm, tpm or budget_tokens, budget_usd (which limit said no); retry_after: seconds until the window
    frees room (None for a budget, which does not refill). window_*: what the last window holds.
    """

    refused: str
    key_id: str
    rpm: int | None = None
    tpm: int | None = None
    budget_tokens: int | None = None
    budget_usd: float | None = None
    spent_tokens: int = 0
    spent_usd: float = 0.0
    reserved_tokens: int = 0
    reserved_usd: float = 0.0
    window_requests: int = 0
    window_tokens: int = 0
    retry_after: float | None = None


@dataclass(frozen=True)
class _Window:
    requests: int
    tokens: int
    oldest_request: float | None
    oldest_tokens: float | None


def _lock(conn: Connection, key_id: str) -> sa.RowMapping | None:
    """The key's row, locked until the transaction ends (FOR UPDATE compiles to nothing on SQLite)."""
    return conn.execute(_LOCK, {"kid": key_id}).mappings().first()


def _window(conn: Connection, key_id: str, now: float, window: float) -> _Window:
    """What the key's last window holds; older rows are deleted first (the key's row lock is held)."""
    params = {"kid": key_id, "horizon": now - window}
    conn.execute(_FORGET, params)
    requests, tokens, oldest_request, oldest_tokens = conn.execute(_WINDOW, params).one()
    return _Window(int(requests), int(tokens), oldest_request, oldest_tokens)


def _quota(refused: str, row: sa.RowMapping, win: _Window | None = None, retry_after: float | None = None) -> Quota:
    return Quota(
        refused=refused,
        key_id=row["id"],
        rpm=row["rpm"],
        tpm=row["tpm"],
        budget_tokens=row["budget_tokens"],
        budget_usd=row["budget_usd"],
        spent_tokens=int(row["spent_tokens"]),
        spent_usd=float(row["spent_usd"]),
        reserved_tokens=int(row["reserved_tokens"]),
        reserved_usd=float(row["reserved_usd"]),
        window_requests=win.requests if win else 0,
        window_tokens=win.tokens if win else 0,
        retry_after=retry_after,
    )


def take_request(conn: Connection, key_id: str, now: float, window: float) -> Quota | None:
    """Count one request in the key's requests-per-minute window: None if it fits, else the refusal.

    A key with no rpm (or no row) is not counted.
    """
    row = _lock(conn, key_id)
    if row is None or row["rpm"] is None:
        return None
    win = _window(conn, key_id, now, window)
    if win.requests >= row["rpm"]:
        oldest = win.oldest_request if win.oldest_request is not None else now
        return _quota("rpm", row, win, max(0.0, oldest + window - now))
    conn.execute(_ADD_EVENT, {"key_id": key_id, "at": now, "requests": 1, "tokens": 0})
    return None


def reserve(
    conn: Connection,
    key_id: str,
    reservation_id: str,
    tokens: int,
    usd: float,
    now: float,
    window: float,
    expires_at: float,
    *,
    per_minute: bool,
    grow: bool = False,
) -> Quota | None:
    """Reserve tokens and usd for one request: None if the key's limits allow it, else the refusal.

    reservation_id: names the reservation (a new one, or with grow, one to make larger); expires_at: when its
    request must have ended, after which a reservation never settled (its replica died) is given back.
    per_minute: the key has a tpm, so the window and what is in flight are checked under the key's row lock first.
    """
    refused = _reserve(conn, key_id, tokens, usd, now, window, per_minute)
    if refused is not None and _release_expired(conn, key_id, now):
        refused = _reserve(conn, key_id, tokens, usd, now, window, per_minute)
    if refused is not None:
        return refused
    if grow:
        conn.execute(_GROW_RESERVATION, {"rid": reservation_id, "n": tokens, "usd_n": usd})
    else:
        row = {"id": reservation_id, "key_id": key_id, "tokens": tokens, "usd": usd, "expires_at": expires_at}
        conn.execute(_ADD_RESERVATION, row)
    return None


def _reserve(
    conn: Connection, key_id: str, tokens: int, usd: float, now: float, window: float, per_minute: bool
) -> Quota | None:
    if per_minute:
        row = _lock(conn, key_id)
        if row is not None and row["tpm"] is not None:
            win = _window(conn, key_id, now, window)
            if win.tokens + row["reserved_tokens"] + tokens > row["tpm"]:
                oldest = win.oldest_tokens
                return _quota("tpm", row, win, max(0.0, oldest + window - now) if oldest is not None else 1.0)
    if conn.execute(_RESERVE, {"kid": key_id, "n": tokens, "usd_n": usd}).rowcount:
        return None
    row = conn.execute(_READ, {"kid": key_id}).mappings().first()
    if row is None:
        return None  # the key is gone: authentication refuses it on its next request
    over_tokens = row["budget_tokens"] is not None and (
        row["spent_tokens"] + row["reserved_tokens"] + tokens > row["budget_tokens"]
    )
    return _quota("budget_tokens" if over_tokens else "budget_usd", row)


def _release_expired(conn: Connection, key_id: str, now: float) -> bool:
    """Give back the key's reservations whose requests must have ended (a replica died holding them)."""
    held = _reservations
    stale = conn.execute(
        sa.select(held.c.id, held.c.tokens, held.c.usd)
        .where(held.c.key_id == key_id, held.c.expires_at < now)
        # A row locked now is being settled: skip it rather than wait, so that this lock (taken while the key's
        # row may be held) and settle's (reservation first, then the key's row) can never wait on each other.
        .with_for_update(skip_locked=True)
    ).all()
    if not stale:
        return False
    conn.execute(sa.delete(held).where(held.c.id.in_([r.id for r in stale])))
    _give_back(conn, key_id, sum(r.tokens for r in stale), sum(r.usd for r in stale))
    return True


def _give_back(
    conn: Connection, key_id: str, tokens: int, usd: float, used_tokens: int = 0, used_usd: float = 0.0
) -> None:
    conn.execute(_GIVE_BACK, {"kid": key_id, "n": tokens, "usd_n": usd, "used_n": used_tokens, "used_usd": used_usd})


def settle(
    conn: Connection,
    key_id: str,
    reservation_id: str | None,
    reserved_tokens: int,
    reserved_usd: float,
    tokens: int,
    usd: float,
    now: float,
    *,
    per_minute: bool,
) -> None:
    """Replace a reservation by what the request used (0 and 0 when it never ran); per_minute: add the tokens to
    the key's window. A reservation already given back as expired only adds what was used."""
    if reservation_id is None or not conn.execute(_DROP_RESERVATION, {"rid": reservation_id}).rowcount:
        reserved_tokens, reserved_usd = 0, 0.0
    _give_back(conn, key_id, reserved_tokens, reserved_usd, tokens, usd)
    if per_minute and tokens > 0:
        conn.execute(_ADD_EVENT, {"key_id": key_id, "at": now, "requests": 0, "tokens": tokens})
