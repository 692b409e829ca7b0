from django import forms
from django.contrib import admin, messages

from core import scopes
from core.admin_console import ConsoleAdmin
from core.admin_format import named
from core.models import Account, ApiSecret, ApiToken, Event
from core.quiet_hours import QUIET_HOURS_FIELDS, quiet_hours_problem
from core.services.credentials import api_secret_create, api_secret_revoke
from core.services.tokens import api_token_create, api_token_revoke


class WebhookAlertFilter(admin.SimpleListFilter):
    title = "webhook alert"
    parameter_name = "webhook_alert"

    def lookups(self, request, model_admin):
        return [("yes", "Yes")]

    def queryset(self, request, queryset):
        return queryset.exclude(webhook_alert="") if self.value() == "yes" else queryset


ACCOUNT_QUIET_HOURS_FIELDS = list(QUIET_HOURS_FIELDS)


class AccountAdminForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        if "quiet_hours_days" in data and data["quiet_hours_days"] is None:
            data["quiet_hours_days"] = []  # an emptied box: every day (the column is not nullable)
        problem = quiet_hours_problem(
            start=data.get("quiet_hours_start"), end=data.get("quiet_hours_end"), days=data.get("quiet_hours_days")
        )
        if problem is not None:
            self.add_error(problem.field, problem.message)
        return data


# outbound/admin.py registers a subclass in its place: saving changed quiet hours goes through
# outbound's account_quiet_hours_set, which core may not import (layers).
@admin.register(Account)
class AccountAdmin(ConsoleAdmin):
    form = AccountAdminForm
    list_display = ["name", "id", "webhook_alert", "created_at"]
    list_filter = [WebhookAlertFilter]
    search_fields = ["name", "id"]

    def get_fieldsets(self, request, obj=None):
        rest = [name for name in self.get_fields(request, obj) if name not in ACCOUNT_QUIET_HOURS_FIELDS]
        # Account-wide quiet hours: sessions without their own follow them (outbound applies them).
        return [(None, {"fields": rest}), ("Quiet hours", {"fields": ACCOUNT_QUIET_HOURS_FIELDS})]


class ScopesForm(forms.ModelForm):
    """Scopes as checkboxes (stored as a JSON list)."""

    scopes = forms.MultipleChoiceField(
        choices=scopes.CHOICES, widget=forms.CheckboxSelectMultiple, initial=scopes.all_scopes,
        help_text="What requests with this credential may do.",
    )


@admin.register(ApiToken)
class ApiTokenAdmin(ConsoleAdmin):
    form = ScopesForm
    list_display = ["__str__", "account", "user", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["account", "user"]
    list_filter = ["account"]
    fields = ["account", "user", "name", "scopes", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, raw = api_token_create(account=obj.account, user=obj.user, name=obj.name, scopes=obj.scopes)
        obj.pk, obj.prefix = token.pk, token.prefix
        # Shown once: only the hash is stored.
        self.message_user(request, f"New token (copy it now, it is not shown again): {raw}", messages.WARNING)

    @admin.action(description="Revoke selected tokens (and every API secret made with them)")
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


@admin.register(ApiSecret)
class ApiSecretAdmin(ConsoleAdmin):
    """API secrets sign the customer's short-lived JWTs; the key is shown once, when made."""

    form = ScopesForm
    list_display = ["name", "id", "account", "scopes", "key_prefix", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["account"]
    list_filter = ["account"]
    search_fields = ["name", "id"]
    fields = [
        "account", "name", "scopes", "created_by", "minted_by_token", "minted_by_secret",
        "id", "key_prefix", "created_at", "last_used_at", "revoked_at",
    ]
    readonly_fields = ["id", "minted_by_token", "minted_by_secret", "key_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        secret, key = api_secret_create(account=obj.account, name=obj.name, scopes=obj.scopes, created_by=obj.created_by)
        obj.pk = secret.pk
        self.message_user(
            request,
            f"New API secret {secret.id}; its key (copy it now, it is not shown again): {key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected API secrets (and every secret made with them)")
    def revoke(self, request, queryset):
        for secret in queryset:
            api_secret_revoke(secret=secret)
        self.message_user(request, f"Revoked {queryset.count()} API secret(s).", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(ConsoleAdmin):
    list_display = ["title", "account", "created_at"]
    list_select_related = ["account"]
    list_filter = ["type", "account"]
    search_fields = ["id"]
    readonly_fields = ["id", "account", "type", "data", "created_at"]

    @admin.display(description="event", ordering="-id")
    def title(self, event):
        return named(event.type, event.id)

    def has_add_permission(self, request):
        return False  # events record what happened; the service writes them as it happens

    def has_delete_permission(self, request, obj=None):
        return False  # what customers were (or will be) told; retention purges them (RETENTION_EVENTS_DAYS)
