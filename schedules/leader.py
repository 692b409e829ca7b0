"""Which beat fires: a lease in the database that the leader renews every poll.

One BeatLease row says who holds the lease and until when. A beat takes or
renews it with one conditional UPDATE:

    UPDATE schedules_beatlease
       SET holder = me, term = term (+ 1 if the holder changes),
           renewed_at = now(), expires_at = now() + lease
     WHERE name = 'beat' AND (holder = me OR expires_at < now())

so a leader that stops renewing, whether its process died, hung (SIGSTOP, a
VM pause, a long GC) or its host was cut off, is replaced once its lease has
run out, whatever became of its database session. On PostgreSQL a leader
that died is replaced sooner, at a standby's next poll: each renewal records
the holder's backend pid, and a holder whose session is gone from
pg_stat_activity (a killed process's connection closes with it) no longer
holds the lease. Both sides of every
comparison are the database's clock (`Now()`), never a beat host's, so clock
skew between hosts cannot make two leaders.

Nothing lives in the database session (it is only looked at): no advisory lock, no LISTEN, no
temporary table; autocommit statements through Django's own connection
(every DATABASES option applies), one per renewal (a standby's try: the
UPDATE and a look whether the row exists). It works behind PgBouncer in
transaction pooling, and on SQLite (the embedded default) alike, which is
why the flock the embedded default used to take is gone.

The holder also measures its lease on its own monotonic clock, from before
the renewal was sent: a beat that wakes after a pause longer than the lease
publishes nothing until a renewal says the lease is still its own.

The lease is about someone firing when the leader hangs, and about not
doing the work twice; not about correctness: even two beats firing at once
cannot send an occurrence twice (the worker's Run claim).
"""

import os
import secrets
import socket
import time
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.db import connection
from django.db.models import Case, Exists, F, Func, IntegerField, OuterRef, Q, When
from django.db.models.functions import Now

from .models import BeatLease, DatabaseSession

# The expiry of a row nobody has taken yet: long past, so the first UPDATE takes it.
VACANT_UNTIL = datetime(2000, 1, 1, tzinfo=timezone.utc)


def holder_id() -> str:
    """host:pid:random, unique per beat process (a pid is reused across hosts and restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def lease_renew(*, name: str, holder: str, seconds: float) -> bool:
    """Extend `holder`'s lease, or take it if it is free or expired; True if `holder` holds it now."""
    if _take_or_extend(name=name, holder=holder, seconds=seconds):
        return True
    if BeatLease.objects.filter(name=name).exists():
        return False  # someone else's, and live
    # First use of this lease: insert it vacant (two beats may race here; the
    # primary key keeps one row), then compete for it like any expired lease.
    BeatLease.objects.bulk_create([BeatLease(name=name, expires_at=VACANT_UNTIL)], ignore_conflicts=True)
    return _take_or_extend(name=name, holder=holder, seconds=seconds)


def _take_or_extend(*, name: str, holder: str, seconds: float) -> bool:
    takeable = Q(holder=holder) | Q(expires_at__lt=Now())
    session = {}
    if connection.vendor == "postgresql":
        # A holder whose database session is gone has died (a killed process's
        # connection closes with it): take over now, not when the lease runs
        # out. A hung or cut-off holder keeps its session, and the expiry
        # decides. Behind a transaction-pooling PgBouncer the pid is a pooled
        # server's: it outlives the holder (the expiry decides) or closes while
        # the holder lives (a handover the old holder sees at its next renewal).
        takeable |= Q(backend_pid__isnull=False) & ~Exists(DatabaseSession.objects.filter(pid=OuterRef("backend_pid")))
        session = {"backend_pid": Func(function="pg_backend_pid", output_field=IntegerField())}
    return bool(
        BeatLease.objects.filter(takeable, name=name).update(
            # SET sees the row as it was: the term moves only when the holder changes.
            term=Case(When(holder=holder, then=F("term")), default=F("term") + 1),
            holder=holder,
            renewed_at=Now(),
            expires_at=Now() + timedelta(seconds=seconds),
            **session,
        )
    )


def lease_term(*, name: str, holder: str) -> int | None:
    """The lease's term if `holder` holds it."""
    return BeatLease.objects.filter(name=name, holder=holder).values_list("term", flat=True).first()


def term_is_current(*, name: str, term: int) -> bool:
    """Whether `term` is the lease's term now: False once another holder took it (a fencing token's check)."""
    return BeatLease.objects.filter(name=name, term=term).exists()


def lease_release(*, name: str, holder: str) -> None:
    """Let a standby take over at its next poll instead of when the lease runs out."""
    BeatLease.objects.filter(name=name, holder=holder).update(expires_at=Now())


class Leadership:
    """This beat process's hold on the beat lease."""

    def __init__(self, *, name: str = BeatLease.BEAT, seconds: float | None = None):
        self.name = name
        self.holder = holder_id()
        self.seconds = seconds if seconds is not None else settings.SCHEDULE_LEADER_LEASE_SECONDS
        self.term: int | None = None
        # Monotonic time taken before sending the last renewal that succeeded.
        # The database set the expiry later than that, so the lease is ours for
        # at least `seconds` from here.
        self._renewed_at: float | None = None

    def renew(self) -> bool:
        """Renew or take the lease (one UPDATE while held); True if this process holds it."""
        was_fresh = self.is_fresh()
        sent_at = time.monotonic()
        if not lease_renew(name=self.name, holder=self.holder, seconds=self.seconds):
            self.term, self._renewed_at = None, None
            return False
        if not was_fresh:
            # Newly taken, or taken back after it lapsed (someone else may have
            # held it meanwhile): read the term it is under now.
            self.term = lease_term(name=self.name, holder=self.holder)
            if self.term is None:
                self._renewed_at = None
                return False  # lost again between the two statements
        self._renewed_at = sent_at
        return True

    def is_fresh(self) -> bool:
        """True while the lease last renewed cannot have run out, on this process's own clock."""
        return self._renewed_at is not None and time.monotonic() - self._renewed_at < self.seconds

    def renewed_seconds_ago(self) -> float | None:
        return None if self._renewed_at is None else time.monotonic() - self._renewed_at

    def release(self) -> None:
        if self._renewed_at is not None:
            lease_release(name=self.name, holder=self.holder)
        self.term, self._renewed_at = None, None
