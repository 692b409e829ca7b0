from django.urls import path, register_converter

from .api import views

# The largest run number the database can hold (Run.occurrence_number: a PostgreSQL integer).
MAX_OCCURRENCE_NUMBER = 2_147_483_647


class OccurrenceNumberConverter:
    """A run's number in a path, 1..MAX_OCCURRENCE_NUMBER; any other number names no run (404), not a database error."""

    regex = "[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_OCCURRENCE_NUMBER:
            raise ValueError("no such run number")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(OccurrenceNumberConverter, "occurrence")

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
        "outbound/schedules/<uuid:schedule_id>/runs/<occurrence:occurrence_number>",
        views.RunDetailView.as_view(),
        name="schedule-run-detail",
    ),
    path(
        "outbound/schedules/<uuid:schedule_id>/runs/<occurrence:occurrence_number>/retry-failed",
        views.RunRetryFailedView.as_view(),
        name="schedule-run-retry-failed",
    ),
]
