"""The maintenance state: its version, the snapshot every gate reads, and the windows in effect.

Every change of what the gate enforces — a window's transition, a bypass link
created or revoked — moves the state version with `bump_version()` inside its own
transaction. That locks the one state row first, so changes serialise in one order
(no deadlock), and once the transaction commits every worker revalidates its cached
snapshot (app/gate/notifier.py). See docs/fail-safe.md.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from pausa_gate import cookies
from pausa_gate.state import BypassKey, GateState
from pausa_gate.windows import LIVE_STATUSES, is_in_effect, utcnow
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from ..extensions import db
from ..gate.notifier import mark_state_changed
from ..models import BypassLink, MaintenanceState, MaintenanceWindow

STATE_ROW_ID = 1
# Set in a session's info once its transaction moved the version: a second change in it moves nothing.
BUMPED = "pausa_version_bumped"


def read_version() -> int:
    """Read the state version: one primary-key lookup."""
    version = db.session.scalar(
        select(MaintenanceState.version).where(MaintenanceState.id == STATE_ROW_ID)
    )
    db.session.commit()  # end the read transaction so no connection sits idle in one
    return version or 0


def load_gate_state() -> GateState:
    """Build the gate's snapshot: the version, every window that can still affect traffic, their links."""
    version = db.session.scalar(
        select(MaintenanceState.version).where(MaintenanceState.id == STATE_ROW_ID)
    )
    windows = live_windows()
    state = GateState(
        version=version or 0,
        windows=tuple(window.to_state() for window in windows),
        bypass_links=live_link_keys([window.id for window in windows]),
    )
    db.session.commit()
    return state


def bump_version() -> MaintenanceState:
    """Lock the state row and move its version once per transaction, inside the caller's transaction."""
    session = db.session()
    if session.info.get(BUMPED):
        return db.session.get(MaintenanceState, STATE_ROW_ID)  # locked and moved already
    state = db.session.get(MaintenanceState, STATE_ROW_ID, with_for_update=True)
    if state is None:
        state = MaintenanceState(id=STATE_ROW_ID, version=0)
        db.session.add(state)
    state.version += 1
    state.updated_at = utcnow()
    session.info[BUMPED] = True
    mark_state_changed(session)  # every worker revalidates once this commits
    return state


@event.listens_for(Session, "after_transaction_end")
def _transaction_over(session: Session, transaction: SessionTransaction) -> None:
    """The next transaction moves the version again (a flush's or a savepoint's end is not the end)."""
    if transaction.parent is None:
        session.info.pop(BUMPED, None)


def supersede_version(at_least: int) -> int:
    """Move the state version past `at_least`, so every worker takes the database's state again."""
    state = bump_version()
    state.version = max(state.version, at_least + 1)
    db.session.commit()
    return state.version


def live_windows() -> list[MaintenanceWindow]:
    """Return the scheduled and active windows, the earliest start first."""
    return list(
        db.session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.status.in_([status.value for status in LIVE_STATUSES]))
            .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
        )
    )


def windows_in_effect(now: datetime | None = None) -> list[MaintenanceWindow]:
    """Return every window the gate enforces now, the earliest start first.

    Usually one. Two when a planned window's start came while another window was active: the
    gate enforces both by the clock, so ending maintenance ends both (docs/windows.md).
    """
    now = now or utcnow()
    return [window for window in live_windows() if is_in_effect(window.to_state(), now)]


def current_window(now: datetime | None = None) -> MaintenanceWindow | None:
    """Return the window in effect now (the one visitors are shown), from the database."""
    windows = windows_in_effect(now)
    return windows[0] if windows else None


def link_secret(link: BypassLink, key: str | None = None) -> str:
    """Return a bypass link's cookie secret under `key` (default SECRET_KEY); the state lists its digest."""
    return cookies.derive_secret((key or current_app.secret_key).encode(), link.token_hash)


def live_link_keys(
    window_ids: list[int] | tuple[int, ...], now: datetime | None = None
) -> frozenset[BypassKey]:
    """Return the unrevoked, unexpired bypass links of these windows as the gate's state lists them."""
    if not window_ids:
        return frozenset()
    now = now or utcnow()
    links = db.session.scalars(
        select(BypassLink).where(
            BypassLink.window_id.in_(list(window_ids)),
            BypassLink.revoked_at.is_(None),
            BypassLink.expires_at > now,
        )
    )
    fallbacks = current_app.config.get("SECRET_KEY_FALLBACKS", ())
    return frozenset(
        BypassKey(
            link.id,
            link.window_id,
            link.expires_at,
            cookies.digest(link_secret(link)),
            tuple(cookies.digest(link_secret(link, key)) for key in fallbacks),
        )
        for link in links
    )
