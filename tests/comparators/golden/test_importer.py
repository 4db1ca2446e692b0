"""People's prompts into items: JSONL and CSV, ids that stay put, and a bad row named by its
file and line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comparators.golden.errors import GoldenError, ImportRowError
from comparators.golden.importer import ImportOptions, detect_format, read_items
from comparators.golden.model import Expected, ExpectedToolCall, item_id

CHAT = "/v1/chat/completions"
OPTIONS = ImportOptions(model="small-v2")


def jsonl(tmp_path: Path, *rows: Any, name: str = "prompts.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def csv_file(tmp_path: Path, text: str, name: str = "prompts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_jsonl_rows_of_every_shape(tmp_path: Path) -> None:
    tools = [{"type": "function", "function": {"name": "refund"}}]
    path = jsonl(
        tmp_path,
        {"prompt": "What is 2+2?", "expected": "4", "tags": {"area": "math"}},
        "",
        {"id": "refund-1", "messages": [{"role": "user", "content": "Refund me"}]},
        {
            "request": {
                "model": "big",
                "messages": [{"role": "user", "content": "x"}],
                "tools": tools,
            },
            "route": "/v1/chat/completions",
            "expected": {"tool_calls": [{"name": "refund", "arguments": '{"id":1}'}]},
            "label": "needs-tool",
        },
        {"prompt": "Be terse", "system": "You are terse.", "tags": {"kind": "adversarial"}},
    )
    first, second, third, fourth = read_items(path, OPTIONS, now=5.0)
    assert first.request == {
        "model": "small-v2",
        "messages": [{"role": "user", "content": "What is 2+2?"}],
    }
    assert first.id == item_id(CHAT, first.request)
    assert first.expected == Expected(text="4")
    assert first.tags == {"kind": "chat", "area": "math"}
    assert first.provenance.model_dump() == {
        "source": "import",
        "file": str(path),
        "line": 1,
        "time": 5.0,
    }
    assert (second.id, second.provenance.line) == ("refund-1", 3)
    assert second.request == {
        "model": "small-v2",
        "messages": [{"role": "user", "content": "Refund me"}],
    }
    assert third.request["model"] == "big"  # a whole request is sent as it is
    assert third.tags == {"kind": "tool_call"}
    assert third.expected == Expected(
        tool_calls=[ExpectedToolCall(name="refund", arguments='{"id":1}')]
    )
    assert third.label == "needs-tool"
    assert fourth.request["messages"][0] == {"role": "system", "content": "You are terse."}
    assert fourth.tags == {"kind": "adversarial"}  # the file's tags win over the derived kind


def test_csv_rows_with_tags_expected_system_and_ids(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "id,prompt,expected,system,tag:tenant,tag:risk\n"
        'c1,"Hello, there",Hi,Be brief,acme,high\n'
        ',"Line one\nline two",,,,\n'
        "c3,Third,,,globex,\n",
    )
    first, second, third = read_items(path, ImportOptions(model="m", system="Default system"))
    assert first.id == "c1"
    assert first.request["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hello, there"},
    ]
    assert first.expected == Expected(text="Hi")
    assert first.tags == {"kind": "chat", "tenant": "acme", "risk": "high"}
    assert second.id.startswith("g-")
    assert second.request["messages"][0] == {"role": "system", "content": "Default system"}
    assert second.request["messages"][1]["content"] == "Line one\nline two"
    assert (second.expected, second.tags) == (None, {"kind": "chat"})
    # Lines are the file's: the second record spans lines 3 and 4, so the third starts on 5.
    assert (second.provenance.line, third.provenance.line) == (3, 5)
    assert third.tags == {"kind": "chat", "tenant": "globex"}


def test_a_csv_messages_column_and_a_bom(tmp_path: Path) -> None:
    messages = json.dumps([{"role": "user", "content": "hi"}]).replace('"', '""')
    path = tmp_path / "excel.csv"
    path.write_bytes((f'\ufeffmessages,route\n"{messages}",/v1/responses\n').encode())
    [only] = read_items(path, OPTIONS)
    assert only.route == "/v1/responses"
    assert only.request == {"model": "small-v2", "messages": [{"role": "user", "content": "hi"}]}


def test_ids_are_stable_across_imports_and_files(tmp_path: Path) -> None:
    a = jsonl(tmp_path, {"prompt": "Same question"}, name="a.jsonl")
    b = csv_file(tmp_path, "prompt\nSame question\n", name="b.csv")
    assert (
        read_items(a, OPTIONS)[0].id == read_items(a, OPTIONS)[0].id == read_items(b, OPTIONS)[0].id
    )
    other_model = read_items(a, ImportOptions(model="other"))[0].id
    assert other_model != read_items(a, OPTIONS)[0].id  # a different request, a different id


@pytest.mark.parametrize(
    ("rows", "line", "problem"),
    [
        (['{"prompt": "ok"}', "{not json"], 2, "not JSON"),
        ([[1, 2]], 1, r"got \[1, 2\]; expected a JSON object"),
        ([{"promt": "typo"}], 1, "unknown key 'promt'; expected prompt, messages, request"),
        ([{"id": "x"}], 1, "got none; expected exactly one of prompt, messages or request"),
        ([{"prompt": "a", "request": {}}], 1, "got prompt and request; expected exactly one"),
        ([{"prompt": ""}], 1, "prompt: got ''; expected a non-empty string"),
        ([{"prompt": "a", "id": 7}], 1, "id: got 7; expected a non-empty string"),
        ([{"messages": "hi"}], 1, "messages: got 'hi'; expected a non-empty list of messages"),
        (
            [{"messages": [{"content": "x"}]}],
            1,
            r"messages\[0\]: .* expected an object with a role",
        ),
        ([{"request": []}], 1, r"request: got \[\]; expected a JSON object"),
        ([{"prompt": "a", "expected": 4}], 1, "expected: got 4; expected a string"),
        ([{"prompt": "a", "expected": {}}], 1, "expected: Value error, expected an object with"),
        (
            [{"prompt": "a", "expected": {"tool_calls": [{}]}}],
            1,
            r"expected\.tool_calls\.0\.name: Field required",
        ),
        ([{"prompt": "a", "tags": ["x"]}], 1, r"tags: got \['x'\]; expected an object"),
        ([{"prompt": "a", "tags": {"tier": 1}}], 1, "tags.tier: got 1; expected a string"),
        ([{"prompt": "a", "tags": {"route": "/x"}}], 1, "tag name 'route'; expected"),
        ([{"prompt": "a", "route": "v1/chat"}], 1, "route: got 'v1/chat'; expected a path"),
        ([{"request": {"m": 1}, "system": "s"}], 1, "system: applies to a prompt only"),
        (
            ['{"prompt": "same"}', '{"id": "x", "prompt": "b"}', '{"prompt": "same"}'],
            3,
            r"id 'g-[0-9a-f]{16}' is also line 1's",
        ),
        (
            ['{"id": "x", "prompt": "a"}', '{"id": "x", "prompt": "b"}'],
            2,
            "id 'x' is also line 1's",
        ),
    ],
)
def test_a_bad_jsonl_row_names_the_file_line_and_problem(
    tmp_path: Path, rows: list[Any], line: int, problem: str
) -> None:
    path = jsonl(tmp_path, *rows)
    with pytest.raises(
        ImportRowError, match=f"^{path}:{line}: .*{problem}.*; nothing written$"
    ) as info:
        read_items(path, OPTIONS)
    assert (info.value.path, info.value.line) == (path, line)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("question\nhi\n", 1, "unknown column 'question'; expected prompt, messages, id"),
        ("id,expected\nx,y\n", 1, "the header has no prompt or messages column"),
        ("prompt,prompt\na,b\n", 1, "the header names a column twice"),
        ("prompt,tag:\na,b\n", 1, "tag name ''; expected a non-empty name"),
        ("prompt,id\na,1\nb\n", 3, "1 cells; expected 2, one per column"),
        ("prompt,id\na,1\n,2\n", 3, "got neither; expected a prompt"),
        ("prompt,messages\na,[]\n", 2, "got prompt and messages"),
        ("messages\n[oops\n", 2, "messages: not JSON"),
        ("prompt,route\na,nowhere\n", 2, "route: got 'nowhere'; expected a path"),
    ],
)
def test_a_bad_csv_row_names_the_file_line_and_problem(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = csv_file(tmp_path, text)
    with pytest.raises(ImportRowError, match=f"^{path}:{line}: {problem}") as info:
        read_items(path, OPTIONS)
    assert info.value.line == line


def test_a_prompt_without_a_model_says_to_pass_one(tmp_path: Path) -> None:
    path = jsonl(tmp_path, {"request": {"model": "x", "input": "fine"}}, {"prompt": "needs one"})
    with pytest.raises(ImportRowError, match=r":2: a prompt needs a model .*; expected --model M"):
        read_items(path, ImportOptions())
    assert len(read_items(jsonl(tmp_path, {"request": {"input": "x"}}), ImportOptions())) == 1


def test_formats_files_and_empty_files(tmp_path: Path) -> None:
    assert detect_format(Path("x.NDJSON"), None) == "jsonl"
    assert detect_format(Path("x.txt"), "csv") == "csv"
    with pytest.raises(
        GoldenError, match=r"x\.txt: cannot tell the format from the suffix '\.txt'"
    ):
        detect_format(Path("x.txt"), None)
    with pytest.raises(GoldenError, match="--format 'tsv'; expected one of jsonl, csv"):
        detect_format(Path("x.csv"), "tsv")
    with pytest.raises(GoldenError, match="no rows; expected at least one jsonl row"):
        read_items(jsonl(tmp_path, ""), OPTIONS)
    with pytest.raises(GoldenError, match=r"missing\.csv: cannot read \(No such file"):
        read_items(tmp_path / "missing.csv", OPTIONS)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("prompt\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(GoldenError, match="not UTF-8 text"):
        read_items(latin, OPTIONS)
