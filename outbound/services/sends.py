import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from core.errors import ApplicationError
from core.ids import new_id, occurrence_delivery_id
from core.models import Account, Event
from outbound import clock, metrics, sql
from outbound.media import file_sha256
from outbound.models import Delivery, Group, MediaFile, Send, Session, User
from outbound.services.events import EventType, delivery_events_record
from outbound.services.queueing import deliveries_enqueue, deliveries_publish
from outbound.signals import send_finished
from outbound.variants import variants_assign

logger = logging.getLogger(__name__)


@dataclass
class SendTargets:
    """A sending session and the groups a send goes to, checked against each other."""

    session: Session
    groups: list[Group]


@dataclass
class SendCreated:
    send: Send
    deliveries: list[Delivery]
    events: list[Event] = field(default_factory=list)


def session_ensure_can_send(*, session: Session) -> None:
    if session.role != Session.Role.SENDING:
        raise ApplicationError(
            "session_not_sending",
            f"Session {session.name} is a receiving session; outbound sends need a sending session.",
            details={"session_id": str(session.id), "role": session.role},
        )
    if session.status != Session.Status.WORKING:
        raise ApplicationError(
            "session_not_working",
            f"Session {session.name} is {session.status}; it can send only when WORKING.",
            details={"session_id": str(session.id), "status": session.status},
        )


def send_targets_resolve(*, account: Account, session_id: uuid.UUID, group_ids: list[uuid.UUID]) -> SendTargets:
    """The account's session and groups for a send, or an error naming what is wrong.

    Another account's session or group is reported exactly like a missing
    one, so ids never leak across accounts.
    """
    session = sql.session_of_account(session_id, account.pk)
    if session is None:
        raise ApplicationError("session_not_found", "No such session.", details={"session_id": str(session_id)})
    return session_targets_resolve(session=session, group_ids=group_ids)


def session_targets_resolve(*, session: Session, group_ids: list[uuid.UUID]) -> SendTargets:
    """A send's targets from a session already loaded (and known to be the account's)."""
    session_ensure_can_send(session=session)
    return SendTargets(session=session, groups=session_groups_resolve(session=session, group_ids=group_ids))


def session_groups_resolve(*, session: Session, group_ids: list[uuid.UUID]) -> list[Group]:
    """The session account's groups, in the order given, each one the session is a member of.

    One query: the groups, each with whether the session is in it.
    """
    found = {group.id: (group, in_session) for group, in_session in _groups_with_membership(session, group_ids)}
    missing = [str(g) for g in group_ids if g not in found]
    if missing:
        raise ApplicationError("group_not_found", "Some groups do not exist.", details={"group_ids": missing})
    absent = [str(g) for g in group_ids if not found[g][1]]
    if absent:
        raise ApplicationError(
            "group_not_in_session",
            f"Session {session.name} is not a member of some groups.",
            details={"group_ids": absent},
        )
    return [found[g][0] for g in group_ids]


def _groups_with_membership(session: Session, group_ids: list) -> list[tuple[Group, bool]]:
    """The session account's groups among `group_ids`, each with whether the session is a member."""
    return sql.groups_with_membership(account_id=session.account_id, session_id=session.pk, group_ids=group_ids)


def media_file_store(*, account: Account, upload, mimetype: str) -> MediaFile:
    """Keep an uploaded image for as long as sends (and schedule runs) need it."""
    media_file = MediaFile(
        account=account,
        filename=upload.name[:255],
        mimetype=mimetype,
        size=upload.size,
        sha256=file_sha256(upload),
    )
    media_file.file.save(upload.name, upload, save=False)
    media_file.save()
    return media_file


def send_create(
    *,
    targets: SendTargets,
    text: str,
    media: list[dict],
    actor_user: User | None,
    request_id: str = "",
    variants: list[dict] | None = None,
    skip_within_hours: float | None = None,
    schedule_id: uuid.UUID | None = None,
    occurrence_number: int | None = None,
    due_at: datetime | None = None,
    announced: bool = False,
) -> SendCreated:
    """Write a send, one delivery per group and their events; fan out after commit.

    A schedule's occurrence passes its `schedule_id`, `occurrence_number` and
    `due_at`: its deliveries get the ids its announcement gave them
    (occurrence_delivery_id). `announced`: message.notification.scheduled
    went out when the occurrence was scheduled, so it is not repeated here.

    1. Variants (if any) split the groups deterministically: by schedule
       occurrence for a scheduled send, by send for an immediate one.
    2. The frequency cap skips groups that got a message from this account
       within `skip_within_hours`: their delivery is recorded as skipped,
       with the reason, never silently dropped.
    3. Deliveries exist (and their ids can be returned) before any worker
       hears of the send. The caller owns the transaction, and calls
       send_finish_if_done if every delivery may have been skipped.
    """
    now = clock.now()
    variants = variants or []
    send = Send(
        account_id=targets.session.account_id,
        session=targets.session,
        actor_user=actor_user,
        text=text,
        media=media,
        variants=variants,
        skip_within_hours=skip_within_hours,
        request_id=request_id,
        schedule_id=schedule_id,
        occurrence_number=occurrence_number,
        created_at=now,
        updated_at=now,
    )
    sql.rows_insert([send])  # every field set here: nothing is filled in on the way
    group_ids = [g.id for g in targets.groups]
    seed = f"{schedule_id}:{occurrence_number}" if schedule_id else str(send.id)
    assignment = variants_assign(variants=variants, group_ids=group_ids, seed=seed) if variants else {}
    parts = {v["variant_name"]: max(1, len(v.get("media") or [])) for v in variants}
    recent = _recently_sent(group_ids, skip_within_hours, now)
    expiration = settings.OUTBOUND_MESSAGE_EXPIRATION_SECONDS
    deliveries = []
    for group in targets.groups:
        variant = assignment.get(group.id, "")
        delivery = Delivery(
            id=_delivery_id(schedule_id, occurrence_number, group.id, due_at),
            send=send,
            group=group,
            chat_id=group.chat_id,
            variant_name=variant,
            max_send_attempts=settings.OUTBOUND_MAX_SEND_ATTEMPTS,
            message_expiration_seconds=expiration,
            expires_at=now + timedelta(seconds=expiration),
            next_attempt_at=now,
            enqueued_at=now,  # published when this commits (the sweeper's clock starts now)
            parts_total=parts[variant] if variant else max(1, len(media)),
            created_at=now,
            updated_at=now,
        )
        if group.id in recent:
            hours_ago = (now - recent[group.id]).total_seconds() / 3600
            delivery.status = Delivery.Status.SKIPPED
            delivery.error_code = "frequency_cap"
            delivery.error_message = (
                f"Got a message from this account {hours_ago:.1f} h ago (skip_within_hours is {skip_within_hours:g})."
            )
        deliveries.append(delivery)
    sql.rows_insert(deliveries)
    queued = [] if announced else [d for d in deliveries if d.status == Delivery.Status.QUEUED]
    skipped = [d for d in deliveries if d.status == Delivery.Status.SKIPPED]
    events = delivery_events_record(send=send, deliveries=queued, type=EventType.MESSAGE_SCHEDULED)
    events += delivery_events_record(send=send, deliveries=skipped, type=EventType.MESSAGE_SKIPPED)

    queued_ids = [d.id for d in deliveries if d.status == Delivery.Status.QUEUED]
    transaction.on_commit(lambda: _deliveries_publish(send.id, queued_ids))
    transaction.on_commit(lambda: _send_accepted_report(send, queued=len(queued_ids), skipped=len(skipped)))
    return SendCreated(send=send, deliveries=deliveries, events=events)


def _send_accepted_report(send: Send, *, queued: int, skipped: int) -> None:
    """Once committed: the state-change log line, and skipped deliveries counted (they are final at once)."""
    metrics.deliveries_finished([Delivery.Status.SKIPPED] * skipped)
    logger.info(
        "send accepted",
        extra={
            "event": "send.accepted", "send_id": str(send.pk), "account_id": str(send.account_id),
            "schedule_id": send.schedule_id and str(send.schedule_id), "occurrence": send.occurrence_number,
            "request_id": send.request_id, "queued": queued, "skipped": skipped,
        },
    )


def _delivery_id(schedule_id, occurrence_number, group_id, due_at) -> uuid.UUID:
    if schedule_id is None or due_at is None:
        return new_id()
    return occurrence_delivery_id(
        schedule_id=schedule_id, occurrence_number=occurrence_number, group_id=group_id, due_at=due_at
    )


def _deliveries_publish(send_id: uuid.UUID, delivery_ids: list) -> None:
    """Queue the send's deliveries once it is committed; if the broker is down, leave them to the sweeper.

    Published from here, not by a fan-out task: the ids are in hand, and a
    task more per send would cost a worker more than the publishing costs
    the request. Failing the request over the broker would tell the client
    it failed when it did not.
    """
    try:
        deliveries_publish(delivery_ids=delivery_ids)
    except Exception:  # kombu raises several kinds for "broker unreachable"
        logger.exception("send %s: deliveries not queued (broker down?); the sweeper will queue them", send_id)


def _recently_sent(group_ids: list, skip_within_hours: float | None, now) -> dict:
    """{group_id: last sent_at} for groups that got a message within the window."""
    if not skip_within_hours:
        return {}
    since = now - timedelta(hours=skip_within_hours)
    rows = (
        Delivery.objects.filter(group_id__in=group_ids, sent_at__gte=since)
        .values("group_id")
        .annotate(last=Max("sent_at"))
    )
    return {row["group_id"]: row["last"] for row in rows}


def send_finish_if_done(*, send: Send) -> None:
    """Complete a send (locked by the caller) whose deliveries have all finished."""
    if send.status != Send.Status.ACCEPTED:
        return
    unfinished, failed = _deliveries_left_and_failed(send)
    if unfinished:
        return
    now = clock.now()
    send.status = Send.Status.COMPLETED_WITH_FAILURES if failed else Send.Status.COMPLETED
    send.completed_at = send.updated_at = now
    Send.objects.filter(pk=send.pk).update(status=send.status, completed_at=now, updated_at=now)
    send_finished.send(sender=Send, send=send)


def _deliveries_left_and_failed(send: Send) -> tuple[bool, bool]:
    """Whether any of the send's deliveries is unfinished, and whether any failed or expired: one query.

    The statuses present, at most a handful of rows: it runs after every batch
    a worker records, for each send in it, and an aggregate of CASE
    expressions costs several times as much CPU to build.
    """
    statuses = set(Delivery.objects.filter(send_id=send.pk).values_list("status", flat=True).order_by().distinct())
    return bool(statuses & set(Delivery.UNFINISHED)), bool(statuses & set(Delivery.UNSUCCESSFUL))


def send_fan_out(*, send_id: uuid.UUID) -> int:
    """Queue one delivery task per group still queued. Safe to run twice: claims dedupe."""
    ids = list(
        Delivery.objects.filter(send_id=send_id, status=Delivery.Status.QUEUED).values_list("pk", flat=True)
    )
    deliveries_enqueue(delivery_ids=ids)
    return len(ids)
