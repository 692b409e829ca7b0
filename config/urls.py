from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
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
    path(
        "v2/docs",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[AllowAny]),
        name="swagger-ui",
    ),
    path("v2/", include("outbound.urls")),
    path("v2/", include("schedules.urls")),
    path("v2/", include("webhooks.urls")),
]

handler404 = "outbound.api.errors.json_not_found"
handler500 = "outbound.api.errors.json_server_error"
