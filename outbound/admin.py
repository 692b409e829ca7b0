from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from core.admin_console import ConsoleAdmin
from core.admin_format import named, one_line
from outbound.models import Delivery, Group, Send, Session, User
from outbound.services.sessions import session_deliveries_release, session_status_refresh
from outbound.transports import TransportError


@admin.register(User)
class OperatorUserAdmin(UserAdmin, ConsoleAdmin):
    list_display = ["username", "account", "email", "is_staff", "time_zone"]
    list_select_related = ["account"]
    list_filter = ["is_staff", "account"]
    fieldsets = UserAdmin.fieldsets + (("Account and display", {"fields": ["account", "time_zone"]}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Account", {"fields": ["account"]}),)


@admin.register(Session)
class SessionAdmin(ConsoleAdmin):
    list_display = ["name", "label", "account", "role", "status", "status_changed_at", "messages_per_minute"]
    # New per-session settings (caps, quiet hours) go in a fieldset of their own rather than this list.
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
class GroupAdmin(ConsoleAdmin):
    list_display = ["name", "chat_id", "account"]
    list_select_related = ["account"]
    list_filter = ["account"]
    search_fields = ["name", "chat_id", "id"]
    filter_horizontal = ["sessions"]


# Characters of a message's text a list shows; the whole text is on the send's page.
TEXT_PREVIEW_CHARS = 60


def send_preview(send: Send) -> str:
    """A send in a few words: its text, else what it carries."""
    if send.text:
        return one_line(send.text, TEXT_PREVIEW_CHARS)
    if send.variants:
        return f"A/B: {', '.join(v.get('variant_name', '?') for v in send.variants)}"
    return f"({len(send.media)} image(s), no text)" if send.media else "(no text)"


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = [
        "delivery", "chat_id", "status", "attempts", "provider_message_ids", "error_code", "error_message",
        "last_attempted_at", "sent_at", "failed_at", "expired_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="delivery")
    def delivery(self, delivery):
        return named("", delivery.id, url=reverse("admin:outbound_delivery_change", args=[delivery.id]))


@admin.register(Send)
class SendAdmin(ConsoleAdmin):
    # The schedule column is added by schedules.admin.sends (schedules sit above outbound, which cannot name them).
    list_display = ["title", "session", "status", "delivery_count", "created_at", "completed_at"]
    list_select_related = ["account", "session"]
    list_filter = ["status", "account", "session"]
    search_fields = ["=id", "request_id", "=schedule_id", "text"]
    search_help_text = "A send's id, request id or schedule id, or words of its text."
    readonly_fields = [
        "id", "account", "session", "actor_user", "text", "media", "status", "schedule_id",
        "occurrence_number", "request_id", "created_at", "completed_at",
    ]
    inlines = [DeliveryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_delivery_count=Count("deliveries"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        send = self.get_object(request, object_id)
        if send is not None:  # headed by what it says, the id beside it
            extra_context = {**(extra_context or {}), "subtitle": f"{send_preview(send)} ({send.id})"}
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        # A send is made through the API (POST /v2/outbound/sends), which checks
        # its session and groups and makes its deliveries: a bare row could not
        # be delivered (and failed on its constraints).
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was sent (retention purges old ones, RETENTION_RUN_HISTORY_DAYS)

    @admin.display(description="send", ordering="-id")
    def title(self, send):
        return named(send_preview(send), send.id)

    @admin.display(description="groups", ordering="_delivery_count")
    def delivery_count(self, obj):
        return obj._delivery_count


@admin.register(Delivery)
class DeliveryAdmin(ConsoleAdmin):
    """Reached from a run or a send in one click; filterable by status and error."""

    list_display = ["title", "status", "attempts", "error_code", "send_link", "last_attempted_at"]
    list_select_related = ["send", "group"]
    list_filter = ["status", "error_code"]
    search_fields = ["id", "send__id", "chat_id"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    @admin.display(description="delivery", ordering="chat_id")
    def title(self, delivery):
        return format_html('{}<br><span class="quiet">{}</span>', delivery.group.name, delivery.chat_id)

    @admin.display(description="send")
    def send_link(self, delivery):
        return named(send_preview(delivery.send), delivery.send_id, url=reverse("admin:outbound_send_change", args=[delivery.send_id]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what each group was sent, or why not
