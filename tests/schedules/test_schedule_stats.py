"""Per-schedule missed, skipped and late counts in the API, and fire lag by account in /metrics (issue 22, item 7)."""

import pytest

from schedules import metrics
from schedules.services import schedule_occurrence_fire
from tests.config.test_metrics import metrics_token, scrape, value  # noqa: F401 (metrics_token: a fixture)

from .conftest import make_due_now

HOUR = 3_600_000


@pytest.fixture(autouse=True)
def fresh_top_accounts():
    metrics.top_accounts_forget()
    yield
    metrics.top_accounts_forget()


def stats(api, schedule):
    return api.get(f"/v2/outbound/schedules/{schedule.id}").json()["stats"]


def test_it_counts_missed_and_late_occurrences(api, make_schedule, clock, settings):
    settings.SCHEDULE_LATE_AFTER_SECONDS = 5
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=10, catchup_window_ms=60_000, overlap_policy="allow_all")
    assert stats(api, schedule) == {"missed": 0, "skipped": 0, "late": 0, "late_after_ms": 5000}
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id)  # on time
    assert stats(api, schedule)["late"] == 0
    # Workers were down for 3 hours and 30 seconds: occurrences 2 and 3 past the window, 4 fired 30 s late.
    clock.shift(3 * 3600 + 30)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    assert run.occurrence_number == 4
    assert stats(api, schedule) == {"missed": 2, "skipped": 0, "late": 1, "late_after_ms": 5000}


def test_an_occurrence_a_little_late_is_not_counted_late(api, make_schedule, clock, settings):
    settings.SCHEDULE_LATE_AFTER_SECONDS = 5
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=10)
    make_due_now(schedule)
    clock.shift(4)
    schedule_occurrence_fire(schedule_id=schedule.id)
    assert stats(api, schedule)["late"] == 0


def test_fire_lag_is_labelled_by_a_top_account_and_the_rest_are_other(make_schedule, account, settings):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=10, overlap_policy="allow_all")
    before = scrape()
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id)
    after = scrape()
    mine = {"trigger": "beat", "account": str(account.id)}
    assert value(after, "outbound_schedule_fire_lag_seconds_count", **mine) - value(
        before, "outbound_schedule_fire_lag_seconds_count", **mine) == 1

    settings.SCHEDULE_FIRE_LAG_TOP_ACCOUNTS = 0  # no account named: every fire is "other"
    metrics.top_accounts_forget()
    other = {"trigger": "beat", "account": "other"}
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id)
    again = scrape()
    assert value(again, "outbound_schedule_fire_lag_seconds_count", **other) - value(
        after, "outbound_schedule_fire_lag_seconds_count", **other) == 1
    assert value(again, "outbound_schedule_fire_lag_seconds_count", **mine) == value(
        after, "outbound_schedule_fire_lag_seconds_count", **mine)


def test_the_top_accounts_are_those_with_the_most_active_schedules(make_schedule, account, other_account, settings):
    make_schedule(interval_ms=HOUR, max_occurrences=10)
    settings.SCHEDULE_FIRE_LAG_TOP_ACCOUNTS = 1
    assert metrics.account_label(account.id) == str(account.id)
    assert metrics.account_label(other_account.id) == "other"
