"""Segment tags: the client's ``x-darklaunch-tags`` parsed as hostile input, the operator's
configured sources, redaction, and the tags arriving in a real record in a real Redis."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config.loading import parse_config
from proxy.recording.redact import Redactor
from proxy.recording.tags import (
    MAX_CLIENT_TAGS,
    TAGS_HEADER,
    DropReason,
    Tagger,
    parse_tags_header,
    valid_value,
)
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory, read_records

CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "Summarise the plan"}]}


# -- the client's header ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tags"),
    [
        ("tenant=acme,feature=search", {"tenant": "acme", "feature": "search"}),
        (" tenant = acme ,  feature=search  ", {"tenant": "acme", "feature": "search"}),
        ("Tenant=Acme", {"tenant": "Acme"}),  # keys are lowercased, values kept as sent
        ("a.b_c-9=x y z", {"a.b_c-9": "x y z"}),  # inner spaces are printable ASCII
        ("k=~!@#$%^&*()[]{};:'\"<>?/|\\`", {"k": "~!@#$%^&*()[]{};:'\"<>?/|\\`"}),
        ("a=1,,b=2,", {"a": "1", "b": "2"}),  # empty items are no tags
        ("", {}),
        (" , ,", {}),
    ],
)
def test_well_formed_tags_are_kept(raw: str, tags: dict[str, str]) -> None:
    assert parse_tags_header(raw) == (tags, [])


@pytest.mark.parametrize(
    ("raw", "tags", "dropped"),
    [
        ("tenant", {}, [DropReason.NO_EQUALS]),
        ("=acme", {}, [DropReason.BAD_KEY]),
        ("ten ant=acme", {}, [DropReason.BAD_KEY]),
        ("tenant!=acme", {}, [DropReason.BAD_KEY]),
        ("k" * 33 + "=v", {}, [DropReason.BAD_KEY]),
        ("k" * 32 + "=v", {"k" * 32: "v"}, []),
        ("\u212aey=v", {}, [DropReason.BAD_KEY]),  # Kelvin sign: lowercases to ASCII "k"
        ("tenänt=acme", {}, [DropReason.BAD_KEY]),
        ("tenant=", {}, [DropReason.BAD_VALUE]),
        ("tenant=   ", {}, [DropReason.BAD_VALUE]),
        ("tenant=" + "v" * 65, {}, [DropReason.BAD_VALUE]),
        ("tenant=" + "v" * 64, {"tenant": "v" * 64}, []),
        ("tenant=" + "v" * 100_000, {}, [DropReason.BAD_VALUE]),
        ("tenant=acmé", {}, [DropReason.BAD_VALUE]),
        ("tenant=ac\x00me", {}, [DropReason.BAD_VALUE]),
        ("tenant=ac\tme", {}, [DropReason.BAD_VALUE]),
        ("tenant=a\x7f", {}, [DropReason.BAD_VALUE]),
        ("tenant=a=b", {}, [DropReason.BAD_VALUE]),
        ("tenant=😀", {}, [DropReason.BAD_VALUE]),
        ("tenant=acme,tenant=evil", {"tenant": "acme"}, [DropReason.DUPLICATE]),
        ("tenant=acme,TENANT=evil", {"tenant": "acme"}, [DropReason.DUPLICATE]),
        ("tenant=,tenant=acme", {"tenant": "acme"}, [DropReason.BAD_VALUE]),
        ("ok=1,bad key=2,=3,x", {"ok": "1"}, ["bad_key", "bad_key", "no_equals"]),
    ],
)
def test_hostile_items_are_dropped_with_a_reason(
    raw: str, tags: dict[str, str], dropped: list[str]
) -> None:
    assert parse_tags_header(raw) == (tags, dropped)


def test_at_most_eight_tags_are_kept_and_the_rest_counted() -> None:
    raw = ",".join(f"k{i}=v{i}" for i in range(20))
    tags, dropped = parse_tags_header(raw)
    assert tags == {f"k{i}": f"v{i}" for i in range(MAX_CLIENT_TAGS)}
    assert dropped == [DropReason.TOO_MANY] * (20 - MAX_CLIENT_TAGS)


def test_dropped_items_do_not_use_up_the_limit() -> None:
    raw = ",".join(["bad key=1"] * 10 + [f"k{i}=v" for i in range(10)])
    tags, dropped = parse_tags_header(raw)
    assert list(tags) == [f"k{i}" for i in range(MAX_CLIENT_TAGS)]
    assert dropped == [DropReason.BAD_KEY] * 10 + [DropReason.TOO_MANY] * 2


def test_a_huge_header_is_cheap_and_harmless() -> None:
    raw = ",".join(["k=" + "x" * 50] * 20_000)
    tags, dropped = parse_tags_header(raw)
    assert tags == {"k": "x" * 50}
    assert len(dropped) == 19_999


def test_a_configured_name_is_reserved_for_its_source() -> None:
    assert parse_tags_header("tenant=evil,team=a", reserved={"tenant"}) == (
        {"team": "a"},
        [DropReason.RESERVED],
    )


def test_values_are_masked_and_keys_that_would_be_are_dropped() -> None:
    redact = Redactor().text
    tags, dropped = parse_tags_header(
        "who=bob@example.com,4155552671=x,key=sk-abcdefghijklmnopqrst,team=a", redact=redact
    )
    assert tags == {"who": "[REDACTED:email]", "key": "[REDACTED:api_key]", "team": "a"}
    assert dropped == [DropReason.SECRET_KEY]


def test_a_value_masking_makes_too_long_is_dropped() -> None:
    redact = Redactor(builtins=(), patterns={"n" * 60: "secret"}).text
    assert parse_tags_header("a=secret,b=plain", redact=redact) == (
        {"b": "plain"},
        [DropReason.BAD_VALUE],
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a", True), ("a" * 64, True), ("", False), ("a" * 65, False), ("a,b", False),
     ("a=b", False), ("a\nb", False), ("é", False), (" a b ", True)],
)  # fmt: skip
def test_valid_value(value: str, ok: bool) -> None:
    assert valid_value(value) is ok


# -- configured sources ----------------------------------------------------------------------


def _tagger(tags: dict[str, Any], **recording: Any) -> Tagger:
    config = parse_config(
        {"incumbent": {"url": "http://127.0.0.1:1"}, "recording": {"tags": tags, **recording}}
    )
    redact = config.recording.redact
    redactor = Redactor(
        enabled=redact.enabled,
        builtins=redact.builtins,
        patterns=redact.patterns,
        drop_paths=redact.drop_paths,
    )
    return Tagger(config.recording.tags, redactor)


def _headers(*items: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(items))


SOURCES = {
    "headers": {"tenant": "X-Tenant-Id"},
    "json_fields": {"feature": "metadata.feature", "tier": "metadata.limits.tier"},
}


def test_configured_sources_come_first_and_the_client_adds_to_them() -> None:
    tagger = _tagger(SOURCES)
    body = {"metadata": {"feature": "search", "limits": {"tier": 3}}}
    headers = _headers(("x-tenant-id", " acme "), (TAGS_HEADER, "tenant=evil,feature=x,region=eu"))
    assert tagger(headers, body) == {
        "tenant": "acme",
        "feature": "search",
        "tier": "3",
        "region": "eu",
    }


def test_a_configured_name_stays_reserved_when_its_source_is_absent() -> None:
    tagger = _tagger(SOURCES)
    assert tagger(_headers((TAGS_HEADER, "tenant=evil,region=eu")), {}) == {"region": "eu"}


@pytest.mark.parametrize(
    ("leaf", "tag"),
    [("s", "s"), (True, "true"), (False, "false"), (7, "7"), (1.5, "1.5"), (-0.0, "-0.0")],
)
def test_json_leaves_are_stringified_as_json_spells_them(leaf: Any, tag: str) -> None:
    tagger = _tagger(SOURCES)
    assert tagger(_headers(), {"metadata": {"feature": leaf}}) == {"feature": tag}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"metadata": None},
        {"metadata": "feature"},
        {"metadata": ["feature"]},
        {"metadata": {"feature": None}},
        {"metadata": {"feature": {"a": 1}}},
        {"metadata": {"feature": [1]}},
        {"metadata": {"feature": ""}},
        {"metadata": {"feature": "x" * 65}},
        {"metadata": {"feature": "héllo"}},
    ],
)
def test_a_missing_or_unfit_field_gives_no_tag(body: dict[str, Any]) -> None:
    assert _tagger(SOURCES)(_headers(), body) == {}


def test_configured_values_are_masked_too() -> None:
    tagger = _tagger(SOURCES, redact={"patterns": {"emp": r"EMP-\d{6}"}})
    headers = _headers(("x-tenant-id", "ops@example.com"))
    body = {"metadata": {"feature": "EMP-123456"}}
    assert tagger(headers, body) == {"tenant": "[REDACTED:email]", "feature": "[REDACTED:emp]"}


def test_with_redaction_off_values_are_recorded_as_sent() -> None:
    tagger = _tagger(SOURCES, redact={"enabled": False})
    headers = _headers(("x-tenant-id", "ops@example.com"), (TAGS_HEADER, "4155552671=x"))
    assert tagger(headers, {}) == {"tenant": "ops@example.com", "4155552671": "x"}


def test_repeated_tag_headers_are_one_list() -> None:
    tagger = _tagger({})
    headers = _headers((TAGS_HEADER, "a=1"), (TAGS_HEADER, "b=2, a=3"))
    assert tagger(headers, {}) == {"a": "1", "b": "2"}


def test_drops_are_logged_at_debug_by_reason_never_by_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tagger = _tagger(SOURCES)
    headers = _headers(("x-tenant-id", "x" * 80), (TAGS_HEADER, "tenant=sekrit1,a=b=c,,q"))
    with caplog.at_level(logging.DEBUG, logger="proxy.recording.tags"):
        assert tagger(headers, {}) == {}
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == (
        "tags not recorded: bad_value x1, bad_value (tenant) x1, no_equals x1, reserved x1"
    )
    assert "sekrit1" not in caplog.text


# -- through the real proxy into Redis -------------------------------------------------------


async def _raw_post(url: str, path: str, body: bytes, extra_head: bytes) -> bytes:
    """A request with header bytes no well-behaved client library would send."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n"
            + extra_head
            + b"\r\n"
            + body
        )
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


async def test_tags_reach_the_record_in_redis_and_no_candidate_sees_the_header(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str, tmp_path: Path
) -> None:
    recording = {
        "redis_url": redis_url,
        "campaign": campaign,
        "spool_dir": str(tmp_path / "spool"),
        "tags": SOURCES,
    }
    sent = "tenant=evil, Region=eu-west ,who=jane@example.com,bad key=1"
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": "c", "url": cand.url, "forward_authorization": True}],
            recording=recording,
            mirror={"sample_rate": 1.0, "noise_rate": 1.0},
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            proxy.url + "/v1/chat/completions",
            json={**CHAT, "metadata": {"feature": "search"}},
            headers={TAGS_HEADER: sent, "X-Tenant-Id": "acme"},
        ) as response:
            assert response.status == 200
            await response.read()
        hostile = b"X-Darklaunch-Tags: tenant=\xff\xfe," + b"k=v," * 1500 + b"\r\n"
        answer = await _raw_post(proxy.url, "/v1/chat/completions", orjson.dumps(CHAT), hostile)
        assert answer.startswith(b"HTTP/1.1 200 ")
        await proxy.state.mirror.tasks.drain(5)
    records = sorted(await read_records(redis_url, campaign), key=lambda r: r.timestamp)
    assert [r.request.tags for r in records] == [
        {"tenant": "acme", "feature": "search", "region": "eu-west", "who": "[REDACTED:email]"},
        {"k": "v"},
    ]
    assert [len(r.mirrors) for r in records] == [2, 2]  # the candidate and the replica
    # The incumbent gets the header as sent; the candidate and the replica never get it.
    incumbent_calls = [h for h in inc.stats.headers if "x-darklaunch-shadow" not in h]
    replica_calls = [h for h in inc.stats.headers if "x-darklaunch-shadow" in h]
    assert incumbent_calls[0][TAGS_HEADER] == sent
    assert incumbent_calls[1][TAGS_HEADER].endswith("k=v,k=v,")
    assert len(incumbent_calls) == len(replica_calls) == 2
    assert len(cand.stats.headers) == 2
    for headers in [*replica_calls, *cand.stats.headers]:
        assert TAGS_HEADER not in headers
