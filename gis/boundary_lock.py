"""One moment for a boundary change and every stamp made against the boundaries around it.

A complaint (``gis.complaints.save``) and an urgent event (``gis.urgent.locate``) are stamped
on arrival with the cell and boundary version in force at their time. A boundary change
(a redraw at either level, a cell import) closes versions and adds new ones from its moment
``at``, and is seen by others only when it commits. Without care, a complaint arriving while a
commit runs is stamped with the old version, and if the commit's moment falls before the
complaint's arrival, the old version afterwards ends before it: a stamp in a retired boundary.

One transaction-level advisory lock makes it exact:

* A boundary change takes it exclusively (``for_boundary_change``) before it locks or writes
  anything, and only then fixes its moment: its transaction's start (``now()``, which every
  other statement of the change also reads), unless something was stamped at or after that
  meanwhile; then one microsecond after the last such arrival.
* A stamp takes it shared (``for_stamping``) before it reads the boundaries. Stamps do not
  wait for one another; one waits for the change that holds the lock (a redraw's commit,
  ~0.1-0.3 s) and is then routed against the boundaries as committed.

Either order gives one consistent answer. Stamp first: the change waits for the stamp's
transaction, then dates itself after its arrival, so the old version still covers it. Change
first: the stamp waits for the commit and reads the new versions, and whichever version covers
its time, old (closing after it) or new, is the one it gets. An arrival is never later than
the database's clock when it is stamped (``for_stamping`` returns that clock, and a caller
clamps a sent time to it), so the change's moment stays at or before its own clock.

A change given an explicit ``valid_from`` keeps it: a backdated one rewrites the past on
purpose, and complaints already stamped in it keep their stamp (docs/complaints.md,
"The stamp is history").
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

# Any constant every caller shares: 'gw_boundaries' hashed by PostgreSQL's hashtext.
_KEY = "hashtext('gw_boundaries')"

# The change's moment: now, or just after the last arrival stamped with a boundary version
# since (both columns are indexed; a stamp has a version, a row written by hand may not).
_LAST_STAMPED = """
    SELECT greatest(now(),
                    (SELECT max(received_at) FROM complaint
                     WHERE received_at >= now() AND cell_version_id IS NOT NULL)
                        + interval '1 microsecond',
                    (SELECT max(raised_at) FROM urgent_event
                     WHERE raised_at >= now() AND cell_version_id IS NOT NULL)
                        + interval '1 microsecond')"""


def for_boundary_change(session: Session, valid_from: dt.datetime | None = None
                        ) -> dt.datetime:
    """Take the boundaries exclusively until the transaction ends; returns the moment the
    change takes effect: ``valid_from`` when given, else now (module docstring). Call it
    before the change locks or writes any cell or version."""
    session.execute(text(f"SELECT pg_advisory_xact_lock({_KEY})"))
    if valid_from is not None:
        return valid_from
    return session.execute(text(_LAST_STAMPED)).scalar()


def for_stamping(session: Session) -> dt.datetime:
    """Take the boundaries shared until the transaction ends (waits for a change being
    committed); returns the database's clock once the lock is held, the latest moment a
    stamp made now may be dated."""
    return session.execute(
        text(f"SELECT clock_timestamp() FROM pg_advisory_xact_lock_shared({_KEY})")).scalar()
