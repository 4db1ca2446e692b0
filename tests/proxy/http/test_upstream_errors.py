"""How an upstream call's failure is reported (:mod:`proxy.http.upstream_errors`)."""

from __future__ import annotations

import pytest

from proxy.http.upstream_errors import (
    BadResponse,
    ConnectFailed,
    Disconnected,
    StaleConnection,
    UpstreamError,
    classify_failure,
)


@pytest.mark.parametrize(
    ("error", "kind", "status", "code"),
    [
        (TimeoutError("late"), "timeout", 504, "upstream_timeout"),
        (ConnectFailed("refused"), "connect", 502, "upstream_unreachable"),
        (Disconnected("gone"), "reset", 502, "upstream_disconnected"),
        (StaleConnection("gone while pooled"), "reset", 502, "upstream_disconnected"),
        (BadResponse("not HTTP"), "protocol", 502, "upstream_error"),
    ],
)
def test_each_failure_has_its_kind_status_and_code(
    error: BaseException, kind: str, status: int, code: str
) -> None:
    failure = classify_failure(error)
    assert (failure.kind, failure.status, failure.code) == (kind, status, code)
    assert str(error) in failure.message or kind == "timeout"


def test_every_client_error_is_an_upstream_error() -> None:
    for error in (ConnectFailed, Disconnected, StaleConnection, BadResponse):
        assert issubclass(error, UpstreamError)
    assert issubclass(StaleConnection, Disconnected)  # callers see a retried failure as a reset
