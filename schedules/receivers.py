from django.dispatch import receiver

from outbound.signals import send_finished

from .services import run_settle_for_send


@receiver(send_finished)
def settle_run_when_send_finishes(sender, send, **kwargs):
    run_settle_for_send(send=send)
