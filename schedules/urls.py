from django.urls import path

from .api import ScheduleCancelView, ScheduleDetailView, ScheduleListView

urlpatterns = [
    path("outbound/schedules", ScheduleListView.as_view(), name="schedule-list"),
    path("outbound/schedules/<uuid:schedule_id>", ScheduleDetailView.as_view(), name="schedule-detail"),
    path("outbound/schedules/<uuid:schedule_id>/cancel", ScheduleCancelView.as_view(), name="schedule-cancel"),
]
