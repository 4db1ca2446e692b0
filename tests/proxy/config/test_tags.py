"""``recording.tags``: which request headers and body fields become segment tags, refused at
load when a tag could carry a credential or data the operator drops from records."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.config.base import ConfigError
from proxy.config.loading import parse_config


def _parse(tags: Any, **recording: Any) -> Any:
    data = {"incumbent": {"url": "http://127.0.0.1:1"}, "recording": {"tags": tags, **recording}}
    return parse_config(data, env={}).recording.tags


def test_sources_are_read_and_header_names_lowercased() -> None:
    tags = _parse(
        {"headers": {"tenant": "X-Tenant-Id"}, "json_fields": {"feature": "metadata.feature"}}
    )
    assert tags.headers == {"tenant": "x-tenant-id"}
    assert tags.json_fields == {"feature": "metadata.feature"}


def test_no_tags_by_default() -> None:
    tags = parse_config({"incumbent": {"url": "http://127.0.0.1:1"}}).recording.tags
    assert (tags.headers, tags.json_fields) == ({}, {})


@pytest.mark.parametrize(
    "header",
    [
        "authorization",
        "Authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "cookie",
        "x-apikey",
        "x-session-token",
        "x-client-secret",
    ],
)
def test_a_credential_header_is_refused(header: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse({"headers": {"tenant": header}})
    (problem,) = caught.value.problems
    assert problem.startswith(f"recording.tags.headers.tenant: got {header!r}; expected a header")
    assert "carries no credential" in problem


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            {"headers": {"Tenant": "x-tenant-id"}},
            r"recording\.tags\.headers: got \{'Tenant': 'x-tenant-id'\}; expected tag names of "
            r"1 to 32 of a-z, 0-9, '_', '\.', '-'; 'Tenant' is not one",
        ),
        (
            {"json_fields": {"a" * 33: "metadata.x"}},
            r"recording\.tags\.json_fields: got .*; expected tag names of 1 to 32 .* is not one",
        ),
        (
            {"headers": {"tenant": "x tenant"}},
            r"recording\.tags\.headers\.tenant: got 'x tenant'; expected an HTTP header name",
        ),
        (
            {"json_fields": {"feature": "metadata..feature"}},
            r"recording\.tags\.json_fields\.feature: got 'metadata\.\.feature'; expected a dotted "
            r"path of object keys",
        ),
        (
            {"json_fields": {"feature": ""}},
            r"recording\.tags\.json_fields\.feature: got ''; expected a dotted path",
        ),
        (
            {"headers": {"tenant": "x-tenant-id"}, "json_fields": {"tenant": "metadata.tenant"}},
            r"recording\.tags: got .*; expected each tag name under headers or json_fields, not "
            r"both; 'tenant' is in both",
        ),
        (
            {"header": {"tenant": "x-tenant-id"}},
            r"recording\.tags\.header: unknown key; expected one of: headers, json_fields",
        ),
        (
            {"headers": {"tenant": 5}},
            r"recording\.tags\.headers\.tenant: got 5; expected a valid string",
        ),
    ],
)
def test_bad_tags_name_key_value_and_expectation(tags: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _parse(tags)


@pytest.mark.parametrize("drop_path", ["metadata", "metadata.user_email", "metadata[user_email]"])
def test_a_tag_may_not_read_what_redaction_drops(drop_path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse(
            {"json_fields": {"who": "metadata.user_email"}},
            redact={"drop_paths": [drop_path]},
        )
    (problem,) = caught.value.problems
    assert problem.startswith("recording: got ")
    assert (
        "expected tags.json_fields outside redact.drop_paths; tag 'who' reads "
        f"'metadata.user_email', which drop path {drop_path!r} keeps out of records"
    ) in problem


def test_a_tag_beside_a_dropped_path_is_fine() -> None:
    tags = _parse(
        {"json_fields": {"team": "metadata.team"}},
        redact={"drop_paths": ["metadata.user_email", "messages[*].name", "meta"]},
    )
    assert tags.json_fields == {"team": "metadata.team"}
