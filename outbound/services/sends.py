import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from outbound.errors import OutboundError
from outbound.media import file_sha256
from outbound.models import Account, Delivery, Event, Group, MediaFile, Send, Session, User
from outbound.services.events import EventType, delivery_events_record


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
        raise OutboundError(
            "session_not_sending",
            f"Session {session.name} is a receiving session; outbound sends need a sending session.",
            details={"session_id": str(session.id), "role": session.role},
        )
    if session.status != Session.Status.WORKING:
        raise OutboundError(
            "session_not_working",
            f"Session {session.name} is {session.status}; it can send only when WORKING.",
            details={"session_id": str(session.id), "status": session.status},
        )


def send_targets_resolve(*, account: Account, session_id: uuid.UUID, group_ids: list[uuid.UUID]) -> SendTargets:
    """The account's session and groups for a send, or an error naming what is wrong.

    Another account's session or group is reported exactly like a missing
    one, so ids never leak across accounts.
    """
    session = Session.objects.filter(account=account, pk=session_id).first()
    if session is None:
        raise OutboundError("session_not_found", "No such session.", details={"session_id": str(session_id)})
    session_ensure_can_send(session=session)
    return SendTargets(session=session, groups=session_groups_resolve(session=session, group_ids=group_ids))


def session_groups_resolve(*, session: Session, group_ids: list[uuid.UUID]) -> list[Group]:
    """The session account's groups, in the order given, each one the session is a member of."""
    found = {g.id: g for g in Group.objects.filter(account_id=session.account_id, pk__in=group_ids)}
    missing = [str(g) for g in group_ids if g not in found]
    if missing:
        raise OutboundError("group_not_found", "Some groups do not exist.", details={"group_ids": missing})
    present = set(session.groups.filter(pk__in=group_ids).values_list("pk", flat=True))
    absent = [str(g) for g in group_ids if g not in present]
    if absent:
        raise OutboundError(
            "group_not_in_session",
            f"Session {session.name} is not a member of some groups.",
            details={"group_ids": absent},
        )
    return [found[g] for g in group_ids]


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
    schedule_id: uuid.UUID | None = None,
    occurrence_number: int | None = None,
) -> SendCreated:
    """Write a send, one queued delivery per group and their events; fan out after commit.

    The caller owns the transaction: deliveries exist (and their ids can be
    returned) before any worker hears of the send.
    """
    now = timezone.now()
    send = Send.objects.create(
        account_id=targets.session.account_id,
        session=targets.session,
        actor_user=actor_user,
        text=text,
        media=media,
        request_id=request_id,
        schedule_id=schedule_id,
        occurrence_number=occurrence_number,
    )
    expiration = settings.OUTBOUND_MESSAGE_EXPIRATION_SECONDS
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            send=send,
            group=group,
            chat_id=group.chat_id,
            max_send_attempts=settings.OUTBOUND_MAX_SEND_ATTEMPTS,
            message_expiration_seconds=expiration,
            expires_at=now + timedelta(seconds=expiration),
            next_attempt_at=now,
            parts_total=max(1, len(media)),
        )
        for group in targets.groups
    )
    events = delivery_events_record(send=send, deliveries=deliveries, type=EventType.MESSAGE_SCHEDULED)

    from outbound.tasks import send_fan_out  # tasks import services: import here to avoid a cycle

    send_id = send.id
    transaction.on_commit(lambda: send_fan_out.delay(str(send_id)))
    return SendCreated(send=send, deliveries=deliveries, events=events)


def send_fan_out(*, send_id: uuid.UUID) -> int:
    """Queue one delivery task per group still queued. Safe to run twice: claims dedupe."""
    from outbound.services.deliveries import deliveries_enqueue

    ids = list(
        Delivery.objects.filter(send_id=send_id, status=Delivery.Status.QUEUED).values_list("pk", flat=True)
    )
    deliveries_enqueue(delivery_ids=ids)
    return len(ids)
