from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ACCOUNT_QUIET_HOURS_FIELDS, AccountAdmin
from core.admin_console import ConsoleAdmin
from core.admin_format import named, one_line
from core.models import Account
from outbound.models import Delivery, Group, Send, Session, User
from outbound.services.accounts import account_quiet_hours_set
from outbound.services.sessions import session_deferred_release, session_deliveries_release, session_status_refresh
from outbound.transports import TransportError


@admin.register(User)
class OperatorUserAdmin(UserAdmin, ConsoleAdmin):
    list_display = ["username", "account", "email", "is_staff", "time_zone"]
    list_select_related = ["account"]
    list_filter = ["is_staff", "account"]
    fieldsets = UserAdmin.fieldsets + (("Account and display", {"fields": ["account", "time_zone"]}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Account", {"fields": ["account"]}),)


# core's Account admin, with the one outbound step it cannot take (core may not import outbound):
# a change of the account's quiet hours goes through account_quiet_hours_set, as the API's does,
# so its sessions' deferred deliveries are looked at again at once.
admin.site.unregister(Account)


@admin.register(Account)
class AccountQuietHoursAdmin(AccountAdmin):
    def save_model(self, request, obj, form, change):
        quiet = [name for name in ACCOUNT_QUIET_HOURS_FIELDS if name in form.changed_data] if change else []
        super().save_model(request, obj, form, change)
        if quiet:
            account_quiet_hours_set(account=obj, **{name: getattr(obj, name) for name in quiet})


# The daily cap, warm-up and quiet hours: a fieldset of their own (outbound/services/sending_windows.py).
SESSION_WINDOW_FIELDS = [
    "time_zone", "daily_message_cap", "warmup_first_day_cap", "warmup_days", "warmup_started_at",
    "cap_day", "cap_day_count", "quiet_hours_start", "quiet_hours_end", "quiet_hours_days",
]


def quiet_hours_days_check(days) -> None:
    if not isinstance(days, list) or any(not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 7 for d in days) or len(set(days)) != len(days):
        raise forms.ValidationError("A list of distinct ISO weekdays, 1 (Monday) to 7, e.g. [1, 2, 3, 4, 5]; [] for every day.", code="invalid")


class SessionAdminForm(forms.ModelForm):
    """The API's checks (outbound/api/session_windows.py) for what operators edit."""

    def clean(self):
        data = super().clean()
        if "quiet_hours_days" in data and data["quiet_hours_days"] is None:
            data["quiet_hours_days"] = []  # an emptied box: every day (the column is not nullable)
        cap, first = data.get("daily_message_cap"), data.get("warmup_first_day_cap")
        if first is not None:
            if cap is None:
                self.add_error("warmup_first_day_cap", "A warm-up needs a daily message cap to rise to.")
            elif cap < first:
                self.add_error("daily_message_cap", "Must not be less than the warm-up's day 1 cap.")
            if (data.get("warmup_days") or 0) < 2:
                self.add_error("warmup_days", "A warm-up takes at least 2 days.")
            if data.get("warmup_started_at") is None:
                self.add_error("warmup_started_at", "The local date of warm-up day 1, e.g. today.")
        start, end = data.get("quiet_hours_start"), data.get("quiet_hours_end")
        if (start is None) != (end is None):
            self.add_error("quiet_hours_end" if end is None else "quiet_hours_start", "Quiet hours need both a start and an end.")
        elif start is not None and start == end:
            self.add_error("quiet_hours_end", "Must differ from the start.")
        if "quiet_hours_days" in data:
            try:
                quiet_hours_days_check(data["quiet_hours_days"])
            except forms.ValidationError as error:
                self.add_error("quiet_hours_days", error)
        return data


@admin.register(Session)
class SessionAdmin(ConsoleAdmin):
    form = SessionAdminForm
    list_display = ["name", "label", "account", "role", "status", "status_changed_at", "messages_per_minute", "human_like"]
    list_select_related = ["account"]
    list_filter = ["status", "role", "human_like", "account"]
    search_fields = ["name", "label", "id"]
    readonly_fields = [
        "status_changed_at", "next_send_slot_at", "created_at", "updated_at",
        "unhealthy_since", "unhealthy_reason", "ack_error_streak", "cap_day", "cap_day_count",
    ]
    actions = ["refresh_status"]
    fieldsets = [
        (None, {"fields": ["account", "name", "label", "role", "status", "status_changed_at", "phone_number"]}),
        ("Pacing", {"fields": ["messages_per_minute", "send_delay_min_ms", "send_delay_max_ms", "next_send_slot_at"]}),
        (
            "Human-like sends",
            {
                "fields": ["human_like", "typing_ms_min", "typing_ms_max", "typing_ms_per_char"],
                "description": "Before each message: mark the chat seen, show typing for min + per character x "
                "length (+-20%, kept within min..max), then send. Typing time counts inside the pacing.",
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        rest = [name for name in self.get_fields(request, obj) if name not in SESSION_WINDOW_FIELDS]
        return [(None, {"fields": rest}), ("Daily cap, warm-up and quiet hours", {"fields": SESSION_WINDOW_FIELDS})]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            # Same effect as a status seen on the gateway: WORKING again releases held deliveries.
            if obj.status == Session.Status.WORKING:
                session_deliveries_release(session=obj)
        if change and set(form.changed_data) & set(SESSION_WINDOW_FIELDS):
            session_deferred_release(session=obj)  # looked at again under the new cap or quiet hours

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
        "last_attempted_at", "typing_ms", "sent_at", "failed_at", "expired_at",
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
