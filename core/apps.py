from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer: what every app uses and no app owns (docs/architecture.md, "Layers")."""

    name = "core"
    verbose_name = "Accounts, access and events"
    default_auto_field = "django.db.models.BigAutoField"
