from django import forms
from django.contrib import admin

from core.addresses import public_url_validator

from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage


class WebhookEndpointForm(forms.ModelForm):
    """The API's rule for the URL (core/addresses.py): an operator gets a form error, not a silent SSRF."""

    class Meta:
        model = WebhookEndpoint
        fields = "__all__"

    def clean_url(self):
        url = self.cleaned_data["url"]
        public_url_validator(url)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "account", "enabled", "disabled_reason", "failing_since", "created_at"]
    list_select_related = ["account"]
    list_filter = ["enabled", "account"]
    search_fields = ["url", "id"]
    readonly_fields = ["previous_secret_expires_at", "failing_since", "created_at", "updated_at"]
    exclude = ["secret", "previous_secret", "dispatch_lease_until"]


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(admin.ModelAdmin):
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
