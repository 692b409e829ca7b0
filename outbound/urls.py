from django.urls import path

from outbound.api.account import AccountView
from outbound.api.catalog import GroupListView, SessionDetailView, SessionListView
from outbound.api.providers import waha_webhook
from outbound.api.sends import SendDetailView

urlpatterns = [
    path("outbound/sends/<uuid:send_id>", SendDetailView.as_view(), name="send-detail"),
    path("account", AccountView.as_view(), name="account"),
    path("sessions", SessionListView.as_view(), name="session-list"),
    path("sessions/<uuid:session_id>", SessionDetailView.as_view(), name="session-detail"),
    path("groups", GroupListView.as_view(), name="group-list"),
    path("providers/waha/webhook", waha_webhook, name="waha-webhook"),
]
