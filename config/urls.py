from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from config.health import HealthView, ReadyView
from config.metrics import MetricsView

urlpatterns = [
    path("healthz", HealthView.as_view(), name="healthz"),
    path("readyz", ReadyView.as_view(), name="readyz"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("admin/", admin.site.urls),
    # The contract is public; reading it needs no token.
    path("v2/schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]), name="schema"),
    # The split view serves Swagger UI's start-up script at /v2/docs?script instead of inline, and
    # our template links its page style: nothing inline for the Content-Security-Policy to refuse.
    path(
        "v2/docs",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="outbound/swagger_ui.html", authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="swagger-ui",
    ),
    path("v2/", include("core.urls")),
    # POST /v2/outbound/sends (now or later) is sending's; the rest of /v2/outbound/sends/... is outbound's.
    path("v2/", include("sending.urls")),
    path("v2/", include("outbound.urls")),
    path("v2/", include("schedules.urls")),
    path("v2/", include("webhooks.urls")),
]

handler404 = "core.api.errors.json_not_found"
handler500 = "core.api.errors.json_server_error"
