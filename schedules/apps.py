from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Schedules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from outbound.scheduling import register_scheduled_send_handler

        from . import receivers  # noqa: F401  (connects the send_finished receiver)
        from .api.handler import ScheduledSendHandler

        register_scheduled_send_handler(ScheduledSendHandler())
