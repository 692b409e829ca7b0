from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from core.addresses import public_url_validator
from core.admin_console import ConsoleAdmin
from core.admin_format import moment

from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from .services.endpoints import endpoint_update


class EndpointForm(forms.ModelForm):
    """The API's rule for the URL (core/addresses.py): an operator gets a form error, not a silent SSRF."""

    def clean_url(self):
        url = self.cleaned_data["url"]
        public_url_validator(url)
        return url


class EndpointStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return WebhookEndpoint.Status.choices

    def queryset(self, request, queryset):
        if self.value() == WebhookEndpoint.Status.DISABLED:
            return queryset.exclude(disabled_reason="")
        if self.value() == WebhookEndpoint.Status.OFF:
            return queryset.filter(disabled_reason="", enabled=False)
        if self.value() == WebhookEndpoint.Status.ACTIVE:
            return queryset.filter(disabled_reason="", enabled=True)
        return queryset


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ConsoleAdmin):
    list_display = ["url", "account", "state", "failing", "created_at"]
    list_select_related = ["account"]
    list_filter = [EndpointStatusFilter, "enabled", "account"]
    search_fields = ["url", "id"]
    readonly_fields = [
        "account", "status", "disabled_reason", "disabled_at", "failing_since", "consecutive_failures",
        "previous_secret_expires_at", "receiving_since", "created_at", "updated_at",
    ]
    exclude = ["secret", "previous_secret", "dispatch_lease_until"]
    form = EndpointForm
    actions = ["enable"]

    @admin.display(description="status")
    def status(self, endpoint):
        return endpoint.status

    @admin.display(description="status")
    def state(self, endpoint):
        if endpoint.disabled_reason:
            return format_html(
                '{}<br><span class="quiet">{} ({})</span>', endpoint.status, endpoint.disabled_reason, moment(endpoint.disabled_at)
            )
        return endpoint.status

    @admin.display(description="failing", ordering="consecutive_failures")
    def failing(self, endpoint):
        if not endpoint.consecutive_failures:
            return "-"
        return f"{endpoint.consecutive_failures} in a row since {moment(endpoint.failing_since)}"

    @admin.action(description="Turn selected endpoints on (a disabled one gets only what happens from now on)")
    def enable(self, request, queryset):
        for endpoint in queryset:
            endpoint_update(endpoint=endpoint, enabled=True)
        self.message_user(request, f"Turned on {queryset.count()} endpoint(s).", messages.SUCCESS)

    def has_add_permission(self, request):
        # The customer makes endpoints through the API, which checks the URL
        # and shows the signing secret once; an endpoint made here would have
        # no secret to sign with.
        return False

    def save_model(self, request, obj, form, change):
        # Through the service, as a PATCH would: turning it on clears why it
        # was turned off, and the account's subscription is looked up afresh.
        # The service compares with the row as it was, so it gets a fresh copy rather than the form's.
        stored = WebhookEndpoint.objects.get(pk=obj.pk)
        endpoint_update(endpoint=stored, **{name: form.cleaned_data[name] for name in form.changed_data})


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ConsoleAdmin):
    list_display = ["webhook_id", "event_type", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_select_related = ["endpoint"]
    list_filter = ["status", "event_type"]
    search_fields = ["=id", "endpoint__url"]
    readonly_fields = [f.name for f in WebhookMessage._meta.fields]
    inlines = [AttemptInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the delivery log customers read and replay from; retention purges it
