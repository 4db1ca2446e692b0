from __future__ import annotations

import logging
from typing import cast

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.recording.encode import OutputData
from proxy.recording.redact import RedactingFilter, Redactor
from proxy.recording.schema import Choice, ErrorInfo, Output, ToolCall


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+x@mail.example.org now", "write to [REDACTED:email] now"),
        ("key sk-proj-AbCdEfGhIjKlMnOp1234 ok", "key [REDACTED:api_key] ok"),
        ("aws AKIAABCDEFGHIJKLMNOP", "aws [REDACTED:api_key]"),
        ("Authorization: Bearer abc.def-ghi_123", "Authorization: [REDACTED:bearer]"),
        ("card 4111 1111 1111 1111.", "card [REDACTED:card]."),
        ("call +1 (415) 555-2671 today", "call [REDACTED:phone] today"),
    ],
)
def test_builtin_patterns_mask(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567890123 shipped",
        "version 1.2.3 in 2024",
        "pi is 3.14159",
        "took 250 ms for 2048 tokens",
    ],
)
def test_ordinary_numbers_survive(text: str) -> None:
    assert Redactor().text(text) == text


def test_custom_patterns_drop_paths_and_disabled() -> None:
    redactor = Redactor(
        patterns={"employee": r"EMP-\d{6}"}, drop_paths=["metadata.email", "messages[*].name"]
    )
    body = {
        "messages": [{"role": "user", "content": "I am EMP-123456", "name": "jane"}],
        "metadata": {"email": "x", "team": "a"},
    }
    assert redactor.request_body(body) == {
        "messages": [{"role": "user", "content": "I am [REDACTED:employee]"}],
        "metadata": {"team": "a"},
    }
    assert Redactor(enabled=False).text("jane@example.com") == "jane@example.com"


def test_output_and_error_are_redacted() -> None:
    output = Output(
        choices=[
            Choice(
                text="mail jane@example.com",
                tool_calls=[ToolCall(name="send", arguments='{"to": "bob@example.com"}')],
                refusal="no sk-abcdefghijklmnopqrst",
            )
        ],
        body={"echo": "jane@example.com"},
    ).model_dump()
    cleaned = Redactor().output(cast("OutputData", output))
    assert b"example.com" not in orjson.dumps(cleaned)
    assert b"sk-" not in orjson.dumps(cleaned)
    assert "example.com" in str(output)  # the input is untouched
    error = Redactor().error(ErrorInfo(kind="protocol", message="bad key sk-abcdefghijklmnopqrst"))
    assert error == {"kind": "protocol", "message": "bad key [REDACTED:api_key]"}


def test_output_with_nothing_to_mask_is_returned_as_it_is() -> None:
    output = cast("OutputData", Output(choices=[Choice(text="hi")], body={"a": "b"}).model_dump())
    assert Redactor().output(output) is output


def test_logging_filter_masks_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("darklaunch.test.redact")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="darklaunch.test.redact"):
        logger.info("client sent %s", "Bearer sk-abcdefghijklmnop1234")
    assert "sk-abcdefghijklmnop1234" not in caplog.text
    assert "[REDACTED:" in caplog.text


FRAGMENTS = [
    "jane@example.com", "sk-abcdefghijklmnopqrstu", "AKIAABCDEFGHIJKLMNOP", "Bearer abcdefgh123",
    "4111 1111 1111 1111", "+1 (415) 555-2671", "020 7946 0958", "ghp_" + "a" * 36,
    "xoxb-1234567890ab", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk", "2026-11-26",
    "v1.2.3", "42", " ", "@", "-", ".",
]  # fmt: skip


@settings(max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=12).map("".join))
def test_prefilter_never_changes_the_result(text: str) -> None:
    # A custom pattern that never matches turns the prefilter off, giving the plain regex pass.
    unfiltered = Redactor(patterns={"never": "(?!x)x"})
    assert Redactor().text(text) == unfiltered.text(text)


def test_tree_returns_clean_subtrees_uncopied_and_never_mutates_its_input() -> None:
    redactor = Redactor()
    clean_part = {"role": "user", "content": "hello", "n": [1, 2, {"x": "y"}]}
    tree = {
        "model": "gpt-4o-mini-2024-07-18",
        "clean": clean_part,
        "messages": [{"role": "user", "content": "mail me at a@b.co"}, "kept"],
        "a@b.co": 3,
    }
    before = repr(tree)
    out = redactor.tree(tree)
    assert repr(tree) == before  # the input is untouched
    assert out is not tree
    assert out["clean"] is clean_part  # nothing to mask: the same object, not a copy
    assert out["messages"][0]["content"] == "mail me at [REDACTED:email]"
    assert out["messages"][1] == "kept"
    assert list(out) == ["model", "clean", "messages", "[REDACTED:email]"]  # order kept
    assert redactor.tree(clean_part) is clean_part


def test_short_strings_that_only_look_like_numbers_are_remembered_as_clean() -> None:
    redactor = Redactor()
    model = "gpt-4o-mini-2024-07-18"  # a digit run sends it through the full regex once
    assert redactor.text(model) == model
    assert model in redactor._clean
    assert redactor.text("call +1 (415) 555-2671") == "call [REDACTED:phone]"
    assert "call +1 (415) 555-2671" not in redactor._clean


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr", "bEARER"])
def test_bearer_tokens_in_any_case_pass_the_prefilter(scheme: str) -> None:
    # No other marker and no digit run: only the case-insensitive bearer check lets it through.
    assert Redactor().text(f"auth was {scheme} abcdefghijklmnop ok") == (
        "auth was [REDACTED:bearer] ok"
    )
