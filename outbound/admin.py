from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count

from core import scopes
from outbound.models import Account, ApiSecret, ApiToken, Delivery, Event, Group, Send, Session, User
from outbound.services.credentials import api_secret_create, api_secret_revoke
from outbound.services.sessions import session_deliveries_release, session_status_refresh
from outbound.services.tokens import api_token_create, api_token_revoke
from outbound.transports import TransportError


class WebhookAlertFilter(admin.SimpleListFilter):
    title = "webhook alert"
    parameter_name = "webhook_alert"

    def lookups(self, request, model_admin):
        return [("yes", "Yes")]

    def queryset(self, request, queryset):
        return queryset.exclude(webhook_alert="") if self.value() == "yes" else queryset


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "webhook_alert", "created_at"]
    list_filter = [WebhookAlertFilter]
    search_fields = ["name", "id"]


@admin.register(User)
class OperatorUserAdmin(UserAdmin):
    list_display = ["username", "account", "email", "is_staff", "time_zone"]
    list_select_related = ["account"]
    list_filter = ["is_staff", "account"]
    fieldsets = UserAdmin.fieldsets + (("Account and display", {"fields": ["account", "time_zone"]}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Account", {"fields": ["account"]}),)


class ScopesForm(forms.ModelForm):
    """Scopes as checkboxes (stored as a JSON list)."""

    scopes = forms.MultipleChoiceField(
        choices=scopes.CHOICES, widget=forms.CheckboxSelectMultiple, initial=scopes.all_scopes,
        help_text="What requests with this credential may do.",
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
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
class ApiSecretAdmin(admin.ModelAdmin):
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


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "account", "role", "status", "status_changed_at", "messages_per_minute"]
    list_select_related = ["account"]
    list_filter = ["status", "role", "account"]
    search_fields = ["name", "label", "id"]
    readonly_fields = ["status_changed_at", "next_send_slot_at", "created_at", "updated_at"]
    actions = ["refresh_status"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            # Same effect as a status seen on the gateway: WORKING again releases held deliveries.
            if obj.status == Session.Status.WORKING:
                session_deliveries_release(session=obj)

    @admin.action(description="Refresh status from the gateway")
    def refresh_status(self, request, queryset):
        for session in queryset:
            try:
                status = session_status_refresh(session=session)
                self.message_user(request, f"{session.name}: {status}", messages.SUCCESS)
            except TransportError as error:
                self.message_user(request, f"{session.name}: gateway error {error.code}: {error.message}", messages.ERROR)


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "chat_id", "account"]
    list_select_related = ["account"]
    list_filter = ["account"]
    search_fields = ["name", "chat_id", "id"]
    filter_horizontal = ["sessions"]


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = [
        "id", "chat_id", "status", "attempts", "provider_message_ids", "error_code", "error_message",
        "last_attempted_at", "sent_at", "failed_at", "expired_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Send)
class SendAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "session", "status", "delivery_count", "created_at", "completed_at"]
    list_select_related = ["account", "session"]
    list_filter = ["status", "account", "session"]
    search_fields = ["id", "request_id", "schedule_id"]
    readonly_fields = [
        "id", "account", "session", "actor_user", "text", "media", "status", "schedule_id",
        "occurrence_number", "request_id", "created_at", "completed_at",
    ]
    inlines = [DeliveryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_delivery_count=Count("deliveries"))

    def has_add_permission(self, request):
        # A send is made through the API (POST /v2/outbound/sends), which checks
        # its session and groups and makes its deliveries: a bare row could not
        # be delivered (and failed on its constraints).
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was sent (retention purges old ones, RETENTION_RUN_HISTORY_DAYS)

    @admin.display(description="groups", ordering="_delivery_count")
    def delivery_count(self, obj):
        return obj._delivery_count


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Reached from a run or a send in one click; filterable by status and error."""

    list_display = ["id", "chat_id", "status", "attempts", "error_code", "send", "last_attempted_at"]
    list_filter = ["status", "error_code"]
    search_fields = ["id", "send__id", "chat_id"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what each group was sent, or why not


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "account", "created_at"]
    list_select_related = ["account"]
    list_filter = ["type", "account"]
    search_fields = ["id"]
    readonly_fields = ["id", "account", "type", "data", "created_at"]

    def has_add_permission(self, request):
        return False  # events record what happened; the service writes them as it happens

    def has_delete_permission(self, request, obj=None):
        return False  # what customers were (or will be) told; retention purges them (RETENTION_EVENTS_DAYS)
