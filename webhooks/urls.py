from django.urls import path

from . import api

urlpatterns = [
    path("webhooks", api.EndpointListView.as_view(), name="webhook-list"),
    path("webhooks/<uuid:endpoint_id>", api.EndpointDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:endpoint_id>/rotate-secret", api.EndpointRotateSecretView.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<uuid:endpoint_id>/deliveries", api.MessageListView.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries/<uuid:message_id>/replay",
        api.MessageReplayView.as_view(),
        name="webhook-delivery-replay",
    ),
]
