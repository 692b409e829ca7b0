from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v2/schema", SpectacularAPIView.as_view(), name="schema"),
    path("v2/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("v2/", include("outbound.urls")),
    path("v2/", include("schedules.urls")),
]

handler404 = "outbound.api.errors.json_not_found"
handler500 = "outbound.api.errors.json_server_error"
