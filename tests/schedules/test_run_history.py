"""A schedule's run history: the detail holds the latest 100 runs, GET .../runs pages through all of them."""

import base64
import io
import uuid

import pytest
import yaml
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core.services.tokens import api_token_create
from schedules.models import Run, Schedule

from .conftest import add_runs


@pytest.fixture
def schedule_with_runs(make_schedule):
    def make(count: int, **runs) -> Schedule:
        schedule = make_schedule(interval_ms=3_600_000, max_occurrences=1000)
        add_runs(schedule, count, **runs)
        return schedule

    return make


def occurrences(runs: list[dict]) -> list[int]:
    return [run["occurrence_number"] for run in runs]


def all_pages(api, url: str) -> list[dict]:
    runs = []
    while url:
        page = api.get(url)
        assert page.status_code == 200, page.json()
        runs += page.json()["results"]
        url = page.json()["next"]
    return runs


def cursor(query: str) -> str:
    """A cursor as the API encodes one, around a position of our choosing."""
    return base64.b64encode(query.encode()).decode()


def test_it_holds_the_runs_of_the_last_100_occurrences_in_occurrence_order_with_the_total(api, schedule_with_runs):
    schedule = schedule_with_runs(250)
    body = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert occurrences(body["runs"]) == list(range(151, 251))
    assert (body["runs_total"], body["run_count"]) == (250, 250)
    # runs_next continues where the detail stops: the page of the 100 runs before them.
    older = api.get(body["runs_next"]).json()
    assert occurrences(older["results"]) == list(range(150, 50, -1))
    # The runs list's first page is the detail's runs, newest first.
    first = api.get(f"/v2/outbound/schedules/{schedule.id}/runs").json()
    assert first["results"] == list(reversed(body["runs"]))
    assert first["next"] == body["runs_next"]


def test_it_holds_every_run_when_there_are_no_more_than_100(api, schedule_with_runs):
    schedule = schedule_with_runs(2)
    body = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert occurrences(body["runs"]) == [1, 2]
    assert (body["runs_total"], body["runs_next"]) == (2, None)


def test_it_pages_through_every_run_exactly_once_newest_first(api, schedule_with_runs):
    schedule = schedule_with_runs(250)
    runs = all_pages(api, f"/v2/outbound/schedules/{schedule.id}/runs?limit=40")
    assert occurrences(runs) == list(range(250, 0, -1))
    assert runs[-1]["status"] == "completed" and isinstance(runs[-1]["due_at_ms"], int)
    # And back: `previous` of the second page is the first.
    first = api.get(f"/v2/outbound/schedules/{schedule.id}/runs?limit=40").json()
    second = api.get(first["next"]).json()
    assert api.get(second["previous"]).json()["results"] == first["results"]
    # One run with its deliveries is still at its own URL, beside the list.
    assert api.get(f"/v2/outbound/schedules/{schedule.id}/runs/2").json()["occurrence_number"] == 2


def test_a_page_stays_put_while_new_runs_are_added(api, schedule_with_runs):
    schedule = schedule_with_runs(250)
    first = api.get(f"/v2/outbound/schedules/{schedule.id}/runs?limit=100").json()
    now = timezone.now()
    Run.objects.create(schedule=schedule, occurrence_number=251, due_at=now, started_at=now)
    assert occurrences(api.get(first["next"]).json()["results"]) == list(range(150, 50, -1))


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"),
        ("cursor=bm9wZQ", "cursor"),  # not base64 of a cursor
        (f"cursor={cursor('p=latest')}", "cursor"),  # a cursor whose position is not an occurrence number
        (f"cursor={cursor('p=1.5')}", "cursor"),  # not a whole number either
        ("status=sleeping", "status"),
    ],
)
def test_it_refuses_limits_out_of_bounds_cursors_it_did_not_give_and_unknown_statuses(api, schedule_with_runs, query, field):
    schedule = schedule_with_runs(3)
    response = api.get(f"/v2/outbound/schedules/{schedule.id}/runs?{query}")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]["fields"]


def test_it_takes_up_to_500_runs_a_page(api, schedule_with_runs):
    schedule = schedule_with_runs(3)
    response = api.get(f"/v2/outbound/schedules/{schedule.id}/runs?limit=500")
    assert response.status_code == 200 and occurrences(response.json()["results"]) == [3, 2, 1]


def test_it_filters_by_status(api, schedule_with_runs):
    schedule = schedule_with_runs(250, failed_every=10)
    failed = all_pages(api, f"/v2/outbound/schedules/{schedule.id}/runs?status=failed&limit=10")
    assert occurrences(failed) == list(range(250, 0, -10))
    assert {(r["status"], r["error_code"]) for r in failed} == {("failed", "session_not_working")}
    completed = all_pages(api, f"/v2/outbound/schedules/{schedule.id}/runs?status=completed")
    assert len(completed) == 225 and all(r["error_code"] is None for r in completed)
    assert all_pages(api, f"/v2/outbound/schedules/{schedule.id}/runs?status=skipped") == []


def test_it_hides_another_accounts_schedule(api, other_account, schedule_with_runs):
    schedule = schedule_with_runs(3)
    assert api.get(f"/v2/outbound/schedules/{schedule.id}/runs").status_code == 200
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(account=other_account)[1]}")
    for response in (
        theirs.get(f"/v2/outbound/schedules/{schedule.id}/runs"),
        theirs.get(f"/v2/outbound/schedules/{schedule.id}"),
        api.get(f"/v2/outbound/schedules/{uuid.uuid4()}/runs"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_the_detail_takes_as_many_queries_for_300_runs_as_for_2_and_never_reads_them_all(api, schedule_with_runs):
    few, many = schedule_with_runs(2), schedule_with_runs(300)
    api.get(f"/v2/outbound/schedules/{few.id}")  # the token's first use may write; measure the ones after
    captured = {}
    for schedule in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert api.get(f"/v2/outbound/schedules/{schedule.id}").status_code == 200
        captured[schedule.id] = [q["sql"] for q in queries.captured_queries]
    # The token, the schedule with its session, its groups, its latest runs, their count.
    assert len(captured[few.id]) == len(captured[many.id]) == 5, captured[many.id]
    # The runs are read 100 at most, and counted (with the stats: missed, skipped) in one query.
    run_reads = [sql for sql in captured[many.id] if '"schedules_run"' in sql]
    assert len(run_reads) == 2 and all("LIMIT 100" in sql or "COUNT(" in sql for sql in run_reads), run_reads


def test_the_schema_documents_the_runs_list_as_a_page_and_the_detail_s_runs_fields(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    operation = schema["paths"]["/v2/outbound/schedules/{schedule_id}/runs"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 500} and "cursor" in parameters
    assert parameters["status"]["enum"] == ["queued", "running", "completed", "failed", "skipped"]
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][page]["properties"]) >= {"next", "previous", "results"}
    detail = schema["components"]["schemas"]["ScheduleDetailOutput"]["properties"]
    assert detail["runs_total"]["type"] == "integer"
    assert detail["runs_next"]["nullable"] is True and detail["runs_next"]["format"] == "uri"
