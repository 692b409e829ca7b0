"""Assertions on the API's error shape, shared by the tests of every app."""


def assert_unknown_field(response, field: str) -> None:
    """A 400 validation_error naming `field` (dotted path) as unknown, and nothing else wrong with it."""
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [e["code"] for e in error["details"]["fields"][field]] == ["unknown_field"], error
    assert field in error["message"]
