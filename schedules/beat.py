"""The beat scheduler: django-celery-beat for static periodic tasks, Schedule.next_run_at for schedules.

django-celery-beat's DatabaseScheduler reloads every enabled PeriodicTask
whenever any of them changes, which does not scale to many one-off schedules
(docs/architecture.md, "Known traps"). Here its machinery handles only the
few static tasks (sweepers, purges); schedules are fired from an indexed
query for what falls due in the next few seconds, re-run every poll, so a
create, edit or cancel is seen within one poll without reloading anything.

Firing is at-least-once by design: the worker's Run claim makes a duplicate
fire (a second beat, a restart, a republish) a no-op. What falls due in the
same tick goes out in messages of up to FIRE_CHUNK occurrences: a herd of
10,000 due in one second is 200 messages, each fired in one transaction,
not 10,000 that each cost a task. While fires are behind (what beat
published a second ago is still unfired), beat holds what falls due until
it fills a message or the next poll: the workers, firing overdue schedules
in batches, are the bottleneck then, and a stream of small messages would
only queue up ahead of the deliveries (a herd spread by jitter).

Several beats may run: one holds the leader lease (schedules.leader),
renews it every poll and fires; the others try it every poll and take over
within a poll of its expiry when the leader dies, hangs or is cut off. The
leader checks its lease before it publishes anything, so a beat that wakes
from a pause publishes nothing once a standby may have taken over.
"""

import heapq
import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

from outbound import clock

from .leader import Leadership
from .models import Schedule
from .registration import FIRE_TASK, FIRES_TASK
from .selectors import beat_leader

logger = logging.getLogger(__name__)

# A fire whose schedule has not moved on after this long is sent again: its
# message may have been lost with the broker.
REPUBLISH_AFTER_SECONDS = 60.0
# The oldest such fires, one message's worth per poll, are sent again much
# sooner: a fire message held by a worker whose host was cut off, or lost in
# a broker failover, would otherwise leave its occurrence a minute late
# whenever no other fire comes to catch it up. One message a poll at most,
# so a herd still being worked through is not flooded with copies (a copy
# of a fire that happened is a no-op).
REPUBLISH_OLDEST_AFTER_SECONDS = 5.0
POLL_BATCH = 5000
# A herd (more due at once than one page) is read page by page, up to this
# many in all: the rest are fired by the workers' overdue batches, or seen
# at a later poll once these have fired.
POLL_MAX = 20_000
# Occurrences per fire message (schedules.tasks.schedules_fire).
FIRE_CHUNK = 50


class OutboundScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self._due: list[tuple[datetime, str, int]] = []  # heap of (due_at, schedule_id, occurrence)
        self._published: dict[tuple[str, int], float] = {}  # (schedule_id, occurrence) -> monotonic time
        self._held: list[tuple[str, int]] = []  # due, not yet published: fires are behind
        self._behind = False
        self._next_poll = 0.0
        self._leadership = Leadership()
        self._leading = False
        self._led_term: int | None = None
        self._announced_standby = False
        self._next_lease_check = 0.0
        super().__init__(*args, **kwargs)

    def enabled_models_qs(self):
        # Schedule mirrors are fired from Schedule.next_run_at, never from their PeriodicTask.
        return super().enabled_models_qs().exclude(task=FIRE_TASK)

    def tick(self, *args, **kwargs):
        if not self.is_leader():
            return settings.SCHEDULE_POLL_SECONDS
        # Checked again right before publishing: this process may have been
        # paused since is_leader() (then the next tick renews first).
        static_wait = super().tick(*args, **kwargs) if self._leadership.is_fresh() else 0.0
        return min(static_wait, self.tick_schedules(), max(0.0, self._next_lease_check - time.monotonic()))

    def is_leader(self) -> bool:
        """Renew (or try to take) the leader lease once per poll, and at once when it may have run out."""
        if time.monotonic() < self._next_lease_check and (self._leadership.is_fresh() or not self._leading):
            return self._leading
        self._next_lease_check = time.monotonic() + settings.SCHEDULE_POLL_SECONDS
        leading = self._renew_lease()
        if leading and (not self._leading or self._leadership.term != self._led_term):
            self._lead()
        elif self._leading and not leading:
            self._stand_down()
        elif not leading and not self._announced_standby:
            self._announce_standby()
        self._leading = leading
        return leading

    def _renew_lease(self) -> bool:
        try:
            close_old_connections()
            return self._leadership.renew()
        except (DatabaseError, InterfaceError):
            # The lease may well still be ours: lead on until it could have run out.
            logger.exception("beat: could not renew the leader lease")
            return self._leading and self._leadership.is_fresh()

    def _lead(self) -> None:
        logger.warning(
            "beat: leader now (term %s, lease %.1f s, holder %s); firing schedules",
            self._leadership.term, self._leadership.seconds, self._leadership.holder,
        )
        self._led_term = self._leadership.term
        self._announced_standby = False
        # Start from what the database says, not from a stale view: another
        # beat may have led (and fired) since this one last did.
        self._due, self._published, self._held, self._next_poll = [], {}, [], 0.0

    def _stand_down(self) -> None:
        ago = self._leadership.renewed_seconds_ago()
        logger.warning(
            "beat: lost the leader lease (term %s, %s); standing by",
            self._led_term, "another beat holds it" if ago is None else f"last renewed {ago:.1f} s ago",
        )
        self._led_term = None
        self._announced_standby = True
        # What this beat had planned is the new leader's to fire now.
        self._due, self._published, self._held = [], {}, []

    def _announce_standby(self) -> None:
        try:
            leader = beat_leader()
        except (DatabaseError, InterfaceError):
            leader = None
        logger.warning(
            "beat: another beat is leader (%s); standing by",
            f"{leader.holder}, term {leader.term}" if leader and leader.holder else "none yet",
        )
        self._announced_standby = True

    def close(self):
        try:
            self._leadership.release()  # a standby takes over at its next poll, not at expiry
        except (DatabaseError, InterfaceError):
            logger.exception("beat: could not release the leader lease; a standby takes over when it expires")
        super().close()

    def tick_schedules(self) -> float:
        """Fire every schedule that is due; return seconds until the next thing to do."""
        poll_seconds = settings.SCHEDULE_POLL_SECONDS
        if time.monotonic() >= self._next_poll:
            self._publish_held(everything=True)  # before the poll, which would read them as unpublished
            self._poll(clock.now() + timedelta(seconds=2 * poll_seconds))
            self._next_poll = time.monotonic() + poll_seconds
        now = clock.now()
        # Paused since the last renewal: the next tick renews before anything goes out.
        if self._leadership.is_fresh():
            while self._due and self._due[0][0] <= now:
                _, schedule_id, occurrence = heapq.heappop(self._due)
                if (schedule_id, occurrence) not in self._published:
                    self._held.append((schedule_id, occurrence))
            self._publish_held(everything=not self._behind)
        wait = self._next_poll - time.monotonic()
        if self._due:
            wait = min(wait, (self._due[0][0] - clock.now()).total_seconds())
        return max(0.0, wait)

    def _poll(self, horizon: datetime) -> None:
        """Replace the heap with what the database says is due before `horizon`."""
        try:
            close_old_connections()
            rows = self._due_rows(horizon)
        except (DatabaseError, InterfaceError):
            logger.exception("beat: could not poll schedules; keeping the previous view")
            return
        fresh = {(str(sid), k): due for sid, k, due in rows}
        monotonic = time.monotonic()
        stale_before = monotonic - REPUBLISH_AFTER_SECONDS
        published = {key: at for key, at in self._published.items() if key in fresh and at > stale_before}
        oldest = sorted((at, key) for key, at in published.items() if at <= monotonic - REPUBLISH_OLDEST_AFTER_SECONDS)
        for _, key in oldest[:FIRE_CHUNK]:
            del published[key]
        self._published = published
        self._due = [(due, sid, k) for (sid, k), due in fresh.items() if (sid, k) not in self._published]
        heapq.heapify(self._due)
        behind = clock.now() - Schedule.FIRES_BEHIND
        self._behind = any(fresh[key] < behind for key in self._published)

    @staticmethod
    def _due_rows(horizon: datetime) -> list:
        """(id, next_occurrence, next_run_at) of what is due before `horizon`, soonest first; POLL_MAX at most.

        Read in pages of POLL_BATCH (keyset on next_run_at, id), so a herd
        due in the same second is seen whole, not the same first page each
        poll while the workers work through it.
        """
        due = Schedule.objects.filter(next_run_at__lte=horizon, status__in=Schedule.ACTIVE).order_by("next_run_at", "id")
        rows = list(due.values_list("id", "next_occurrence", "next_run_at")[:POLL_BATCH])
        while len(rows) % POLL_BATCH == 0 and 0 < len(rows) < POLL_MAX:
            last_id, _, last_at = rows[-1]
            after = due.filter(next_run_at__gte=last_at).exclude(next_run_at=last_at, id__lte=last_id)
            page = list(after.values_list("id", "next_occurrence", "next_run_at")[:POLL_BATCH])
            if not page:
                break
            rows += page
        return rows

    def _publish_held(self, *, everything: bool) -> None:
        """Publish what is held, FIRE_CHUNK to a message; only full messages unless `everything`.

        Nothing if the lease may have run out since it was renewed: a poll
        (after the renewal) reads them again.
        """
        if not self._leadership.is_fresh():
            self._held.clear()
            return
        ready = len(self._held) if everything else len(self._held) - len(self._held) % FIRE_CHUNK
        for start in range(0, ready, FIRE_CHUNK):
            self._publish(self._held[start:start + FIRE_CHUNK])
        del self._held[:ready]

    def _publish(self, occurrences: list[tuple[str, int]]) -> None:
        """One fire message for these (schedule_id, occurrence) pairs; marked published if it went out."""
        try:
            # The lease term fences the message: a worker drops it if another beat has led since.
            self.app.send_task(FIRES_TASK, args=(occurrences,), kwargs={"term": self._leadership.term})
        except Exception:  # the broker is down: leave them unpublished for the next poll
            logger.exception("beat: could not publish %s fire(s), from schedule %s", len(occurrences), occurrences[0][0])
            return
        at = time.monotonic()
        self._published.update((key, at) for key in occurrences)
