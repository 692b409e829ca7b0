"""Re-sending the failed deliveries of one run, once."""

from datetime import timedelta

from django.db import transaction

from core.errors import ApplicationError
from outbound import clock
from outbound.models import Delivery, Send
from outbound.services.queueing import deliveries_enqueue
from schedules.models import Run, Schedule

from .status import schedule_settle


def run_retry_failed(*, schedule: Schedule, occurrence_number: int) -> tuple[Run, int]:
    """Queue the failed and expired deliveries of a run again; (run, how many). Once per run.

    1. A second call changes nothing (the run records when it was retried).
    2. The run must have deliveries and be finished.
    3. Each delivery starts over with fresh attempts and expiry, but asks the
       gateway before sending (unconfirmed), so a message that did arrive
       despite the failure is not sent twice.
    4. The run and its send are open again and settle when these finish.
    """
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        run = Run.objects.select_for_update().filter(schedule=schedule, occurrence_number=occurrence_number).first()
        if run is None:
            raise ApplicationError("not_found", "No such run.", http_status=404)
        if run.retried_at is not None:
            return run, 0
        if run.send_id is None:
            raise ApplicationError(
                "run_has_no_deliveries", f"Run {occurrence_number} sent nothing ({run.error_code}); nothing to retry.", http_status=409
            )
        if run.status == Run.Status.RUNNING:
            raise ApplicationError("run_in_progress", "The run's deliveries are still in progress.", http_status=409)
        send = Send.objects.select_for_update().get(pk=run.send_id)
        failed = list(send.deliveries.filter(status__in=Delivery.UNSUCCESSFUL).values_list("pk", "message_expiration_seconds"))
        if not failed:
            raise ApplicationError("nothing_to_retry", "No delivery of this run failed.", http_status=409)
        now = clock.now()
        for pk, expiration in failed:
            Delivery.objects.filter(pk=pk).update(
                status=Delivery.Status.QUEUED, attempts=0, next_attempt_at=now,
                expires_at=now + timedelta(seconds=expiration), unconfirmed=True, slot_at=None,
                lease_expires_at=None, error_code="", error_message="", failed_at=None, expired_at=None, updated_at=now,
            )
        send.status, send.completed_at = Send.Status.ACCEPTED, None
        send.save(update_fields=["status", "completed_at", "updated_at"])
        if run.status == Run.Status.FAILED:
            schedule.failed_run_count -= 1  # it may yet succeed; it counts again if it fails again
        run.status, run.error_code, run.error_message = Run.Status.RUNNING, "", ""
        run.failed_at = run.completed_at = None
        run.retried_at = now
        run.save()
        schedule_settle(schedule, now)
        ids = [pk for pk, _ in failed]
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=ids))
        return run, len(ids)
