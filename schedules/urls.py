from django.urls import path

from .api import views

urlpatterns = [
    path("outbound/schedules", views.ScheduleListView.as_view(), name="schedule-list"),
    path("outbound/schedules/preview", views.DraftPreviewView.as_view(), name="schedule-preview-draft"),
    path("outbound/schedules/<uuid:schedule_id>", views.ScheduleDetailView.as_view(), name="schedule-detail"),
    path("outbound/schedules/<uuid:schedule_id>/cancel", views.ScheduleCancelView.as_view(), name="schedule-cancel"),
    path("outbound/schedules/<uuid:schedule_id>/pause", views.SchedulePauseView.as_view(), name="schedule-pause"),
    path("outbound/schedules/<uuid:schedule_id>/resume", views.ScheduleResumeView.as_view(), name="schedule-resume"),
    path("outbound/schedules/<uuid:schedule_id>/preview", views.SchedulePreviewView.as_view(), name="schedule-preview"),
    path("outbound/schedules/<uuid:schedule_id>/backfill", views.ScheduleBackfillView.as_view(), name="schedule-backfill"),
    path("outbound/schedules/<uuid:schedule_id>/runs", views.RunListView.as_view(), name="schedule-runs"),
    path(
        "outbound/schedules/<uuid:schedule_id>/runs/<int:occurrence_number>",
        views.RunDetailView.as_view(),
        name="schedule-run-detail",
    ),
    path(
        "outbound/schedules/<uuid:schedule_id>/runs/<int:occurrence_number>/retry-failed",
        views.RunRetryFailedView.as_view(),
        name="schedule-run-retry-failed",
    ),
]
