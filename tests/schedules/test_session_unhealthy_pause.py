"""An unhealthy session pauses its schedules; a resume applies each one's catch-up window (issue 22, item 6)."""

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.utils import timezone

from core.models import Event
from outbound.models import Session
from outbound.services.session_health import sessions_health_check
from outbound.services.sessions import session_status_set
from schedules.models import Run, Schedule, ScheduleChange
from schedules.services import schedule_occurrence_fire, schedule_pause
from tests.conftest import CLOCK_START

from .conftest import make_due_now
from .test_admin import operator  # noqa: F401 (a fixture)

HOUR = 3_600_000


@pytest.fixture
def unhealthy_after(settings):
    settings.OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS = 600
    return 600


def make_unhealthy(session, clock, seconds=601):
    session_status_set(session=session, status="STOPPED")
    clock.shift(seconds)
    assert sessions_health_check() == 1


def test_every_active_schedule_on_the_session_pauses_with_a_reason(
    api, make_schedule, session, account, clock, unhealthy_after, make_groups
):
    first, second = make_schedule(interval_ms=HOUR, max_occurrences=5), make_schedule(interval_ms=HOUR, max_occurrences=5)
    chosen = make_schedule(interval_ms=HOUR, max_occurrences=5)
    schedule_pause(schedule=chosen)  # an operator's pause stays an operator's
    other_session = Session.objects.create(account=account, name="other-line", status="WORKING", messages_per_minute=None)
    elsewhere = Schedule.objects.create(
        account=account, session=other_session, first_run_at=timezone.now() + timedelta(hours=1), interval_ms=HOUR,
        max_occurrences=5, next_run_at=timezone.now() + timedelta(hours=1), text="Other",
    )
    make_unhealthy(session, clock)
    for schedule in (first, second):
        schedule.refresh_from_db()
        assert (schedule.status, schedule.pause_source, schedule.next_run_at) == ("paused", "session_unhealthy", None)
        assert schedule.pause_reason.startswith(f"Session {session.name} is unhealthy: STOPPED since")
        change = schedule.changes.get()
        assert change.source == "session_unhealthy" and change.changes["status"] == ["scheduled", "paused"]
        body = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
        assert body["status"] == "paused" and body["pause_source"] == "session_unhealthy"
        assert body["pause_reason"] == schedule.pause_reason
    chosen.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (chosen.pause_source, chosen.pause_reason) == ("", "")
    assert elsewhere.status == "scheduled"
    types = list(Event.objects.filter(account_id=account.id).values_list("type", flat=True))
    assert types.count("session.unhealthy") == 1 and types.count("schedule.paused") == 3  # the operator's one too


def test_nothing_fires_while_paused(make_schedule, session, clock, unhealthy_after):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=5)
    make_due_now(schedule)
    make_unhealthy(session, clock)  # due meanwhile
    schedule.refresh_from_db()
    assert schedule.status == "paused"
    assert schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1) is None
    assert not Run.objects.filter(schedule=schedule).exists()


@pytest.mark.parametrize("window_hours, skipped, fired_from", [(2.75, 3, 4), (None, 6, 7)])
def test_a_resume_sends_what_fell_due_within_the_catch_up_window(
    api, make_schedule, session, clock, unhealthy_after, gateway, window_hours, skipped, fired_from
):
    # Hourly from 10:00; the session stops at once and the schedule is paused at 10:10 (600 s later).
    window = {"catchup_window_ms": int(window_hours * HOUR)} if window_hours else {}
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=10, first_run_at_ms=int((CLOCK_START.timestamp() + 3600) * 1000), **window)
    make_unhealthy(session, clock)
    # Resumed at 15:30: occurrences 1-6 (10:00-15:00) fell due while paused.
    clock.move_to(CLOCK_START + timedelta(hours=6, minutes=30))
    session_status_set(session=session, status="WORKING")
    response = api.post(f"/v2/outbound/schedules/{schedule.id}/resume")
    assert response.status_code == 200, response.json()
    schedule.refresh_from_db()
    assert (schedule.status, schedule.pause_source, schedule.pause_reason) == ("scheduled", "", "")
    runs = list(schedule.runs.order_by("occurrence_number"))
    # The window (2 h 45 min: from 12:45) keeps 13:00, 14:00 and 15:00; the default 600 s keeps none.
    assert [(r.occurrence_number, r.status, r.error_code) for r in runs] == [(k, "skipped", "paused") for k in range(1, skipped + 1)]
    assert schedule.next_occurrence == fired_from
    if window_hours:
        assert schedule.next_run_at < timezone.now()  # due already: beat fires it at once
        run = schedule_occurrence_fire(schedule_id=schedule.id)
        assert run.occurrence_number == fired_from and run.status == "running" and run.send_id is not None
        schedule.refresh_from_db()
        assert schedule.late_run_count == 1
        assert api.get(f"/v2/outbound/schedules/{schedule.id}").json()["stats"] == {
            "missed": 0, "skipped": 3, "late": 1, "late_after_ms": 5000,  # late: 13:00 started at 15:30
        }
    else:
        assert schedule.next_run_at == CLOCK_START + timedelta(hours=7)  # 16:00, the next one from now


def test_an_operator_pause_resumes_as_before_without_catch_up(api, make_schedule, clock):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=10, catchup_window_ms=10 * HOUR,
                             first_run_at_ms=int((CLOCK_START.timestamp() + 3600) * 1000))
    api.post(f"/v2/outbound/schedules/{schedule.id}/pause")
    clock.move_to(CLOCK_START + timedelta(hours=3, minutes=30))
    api.post(f"/v2/outbound/schedules/{schedule.id}/resume")
    schedule.refresh_from_db()
    # 10:00-12:00 skipped however large its window: a pause an operator chose sends nothing late.
    assert schedule.runs.filter(status="skipped").count() == 3 and schedule.next_run_at > timezone.now()


def test_the_admin_resume_applies_the_window_and_the_dashboard_lists_the_session(
    operator, make_schedule, session, clock, unhealthy_after  # noqa: F811
):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=10, catchup_window_ms=2 * HOUR,
                             first_run_at_ms=int((CLOCK_START.timestamp() + 3600) * 1000))
    make_unhealthy(session, clock)
    page = operator.get("/admin/schedules/schedule/dashboard/").content.decode()
    assert 'id="unhealthy-sessions"' in page and session.name in page and "STOPPED since" in page
    clock.move_to(CLOCK_START + timedelta(hours=4, minutes=30))
    operator.post("/admin/schedules/schedule/", {"action": "resume", helpers.ACTION_CHECKBOX_NAME: [str(schedule.pk)]})
    schedule.refresh_from_db()
    assert schedule.status == "scheduled"
    # Resumed at 13:30: 10:00 and 11:00 skipped; 12:00 and 13:00 are within its 2 h and still go.
    assert list(schedule.runs.order_by("occurrence_number").values_list("occurrence_number", flat=True)) == [1, 2]
    assert schedule.next_occurrence == 3 and schedule.next_run_at < timezone.now()
    session_status_set(session=session, status="WORKING")
    page = operator.get("/admin/schedules/schedule/dashboard/").content.decode()
    assert "No session is judged unhealthy." in page
    assert ScheduleChange.objects.filter(schedule=schedule, source="admin").exists()
