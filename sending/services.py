"""Now or later: one request to POST /v2/outbound/sends becomes an immediate send or a schedule.

This app sits above `outbound` and `schedules` and is the only place that
knows both: outbound's `send_create` sends now, schedules' `schedule_create`
sends later. Neither of them imports this module.
"""

from core.models import Account
from core.time import to_ms
from outbound.models import Delivery
from outbound.services.idempotency import idempotent_accept
from outbound.services.sends import media_file_store, send_create, send_finish_if_done, send_targets_resolve
from schedules.services import schedule_create


def send_or_schedule_create(
    *,
    account: Account,
    actor_user,
    request_id: str,
    idempotency_key: str,
    fingerprint: str,
    session_id,
    group_ids: list,
    text: str,
    media: list[dict],
    uploads: list[tuple[object, str]],
    variants: list[dict],
    skip_within_hours: float | None,
    schedule: dict | None,
) -> tuple[dict, bool]:
    """Create the send, or the schedule when `schedule` is given, once per idempotency key.

    Returns (response body, duplicate), as outbound's idempotent_accept does.

    1. In the idempotent transaction, resolve the session and groups: a
       replay returns the first response even if the session has stopped since.
    2. Store the uploaded images (`uploads`: file and sniffed mimetype); they
       join `media` as file ids.
    3. With a `schedule` (the validated rule), schedule_create; without,
       send_create, and finish the send at once if no group was queued.
    """

    def create() -> dict:
        targets = send_targets_resolve(account=account, session_id=session_id, group_ids=group_ids)
        stored = [
            {"file_id": str(media_file_store(account=account, upload=upload, mimetype=mimetype).id)}
            for upload, mimetype in uploads
        ]
        common = dict(
            targets=targets,
            text=text,
            media=[*media, *stored],
            actor_user=actor_user,
            request_id=request_id,
            variants=variants,
            skip_within_hours=skip_within_hours,
        )
        if schedule:
            return _schedule_accepted_body(_schedule_from_rule(common, schedule), request_id)
        created = send_create(**common)
        if any(d.status != Delivery.Status.QUEUED for d in created.deliveries):
            send_finish_if_done(send=created.send)  # every group may have been skipped by the cap
        return _send_accepted_body(created, request_id)

    return idempotent_accept(account=account, key=idempotency_key, fingerprint=fingerprint, create=create)


def _schedule_from_rule(common: dict, rule: dict):
    # `rule` is the validated `schedule` object: its timing fields and, optionally, the schedule's name.
    timing = {field: value for field, value in rule.items() if field != "name"}
    return schedule_create(**common, timing=timing, name=rule.get("name", ""))


def _send_accepted_body(created, request_id: str) -> dict:
    results = [
        {"recipient_send_id": str(d.id), "group_id": str(d.group_id), "ok": d.status == d.Status.QUEUED, "status": d.status}
        for d in created.deliveries
    ]
    return {
        "status": "accepted",
        "send": {
            "status": "accepted",
            "send_id": str(created.send.id),
            "event_ids": [str(e.id) for e in created.events],
            "results": results,
            "request_id": request_id,
        },
        "request_id": request_id,
    }


def _schedule_accepted_body(schedule, request_id: str) -> dict:
    return {
        "status": "accepted",
        "schedule": {
            "status": "accepted",
            "schedule_id": str(schedule.id),
            "workflow_id": schedule.workflow_id,
            "next_run_at_ms": to_ms(schedule.next_run_at),
            "interval_ms": schedule.interval_ms,
            "max_occurrences": schedule.max_occurrences,
        },
        "request_id": request_id,
    }
