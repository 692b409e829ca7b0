from django.dispatch import receiver

from outbound.signals import send_finished, session_unhealthy

from .services import run_settle_for_send
from .services.session_pause import session_schedules_pause


@receiver(send_finished)
def settle_run_when_send_finishes(sender, send, **kwargs):
    run_settle_for_send(send=send)


@receiver(session_unhealthy)
def pause_schedules_of_unhealthy_session(sender, session, reason, **kwargs):
    session_schedules_pause(session=session, reason=reason)
