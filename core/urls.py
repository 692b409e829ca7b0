from django.urls import path

from core.api.credentials import ApiSecretListView, ApiSecretRevokeView

urlpatterns = [
    path("api-secrets", ApiSecretListView.as_view(), name="api-secret-list"),
    path("api-secrets/<uuid:secret_id>/revoke", ApiSecretRevokeView.as_view(), name="api-secret-revoke"),
]
