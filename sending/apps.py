from django.apps import AppConfig


class SendingConfig(AppConfig):
    """POST /v2/outbound/sends: "now or later" decided above outbound and schedules. No models."""

    name = "sending"
    verbose_name = "Sending (now or later)"
