"""What GET /metrics exports, and which metric names a PromQL expression reads (for the rules and the dashboard)."""

import re

from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

TOKEN = "deploy-scrape-token"

# Written by Prometheus itself (for every target it scrapes; ALERTS for the rules' alerts), not by the service.
PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"})

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan", "atan2"}
)


def scrape_text(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    response = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    return response.content.decode()


def sample_names(text: str) -> set[str]:
    """Every sample name of a scrape (a counter's `_total`, a histogram's `_bucket`, `_count`, `_sum`)."""
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def every_metric_counted(*, session, endpoint) -> None:
    """Rows and counts behind every family, so each labeled series is in the next scrape.

    The counters of the multiprocess files appear once counted: count one of
    each, through the functions the services call. The rest is read at
    scrape time from the rows: a session, an endpoint, a beat lease.
    """
    from outbound.metrics import deliveries_finished
    from schedules.leader import lease_renew
    from schedules.metrics import fire_lag_observe
    from schedules.models import BeatLease
    from webhooks.metrics import webhook_attempt_count

    assert session is not None and endpoint is not None
    deliveries_finished(["sent", "failed", "expired", "skipped"])
    fire_lag_observe(trigger="beat", seconds=0.2)
    webhook_attempt_count("failed")
    lease_renew(name=BeatLease.BEAT, holder="beat-1:1:ab", seconds=5)
    APIClient().get("/v2/sessions")  # unauthenticated: one 4xx on the api surface, through the middleware


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, keywords, labels or Grafana variables)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, format strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges, with $__rate_interval
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # dashboard variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names
