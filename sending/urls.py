from django.urls import path

from .api import SendCreateView

urlpatterns = [
    path("outbound/sends", SendCreateView.as_view(), name="send-create"),
]
