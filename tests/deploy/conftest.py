import pytest

from tests.deploy.exported import every_metric_counted, sample_names, scrape_text
from tests.webhooks.conftest import endpoint, receiver  # noqa: F401 (fixtures)


@pytest.fixture
def exported(settings, session, endpoint):  # noqa: F811
    """The sample names one scrape of the real GET /metrics view holds, with a row or a count behind every family."""
    every_metric_counted(session=session, endpoint=endpoint)
    names = sample_names(scrape_text(settings))
    assert "outbound_deliveries_total" in names and "outbound_sessions" in names  # the scrape is not empty
    return names
