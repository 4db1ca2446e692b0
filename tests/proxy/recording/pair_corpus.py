"""A varied corpus of mirrored exchanges, and the records the pair builder made of them.

The records in ``pair_corpus.jsonl`` were built by the model-based builder that preceded the
plain-data one (commit 8710443), so :mod:`tests.proxy.test_pairing` can prove that building
records as plain data and encoding them with orjson changed nothing a reader can see. Since then
they were rewritten twice, to add ``sample_rate`` and then ``request.tags`` (empty here; each
checked to change nothing else). Run
``python -m tests.proxy.recording.pair_corpus`` only to record a deliberate change of the records.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import CollectorRegistry

from loadtests.nginx import CHAT_REQUEST, CHAT_RESPONSE
from proxy.config.loading import parse_config
from proxy.metrics import ProxyMetrics
from proxy.mirroring.pair import PendingPair
from proxy.mirroring.target import CandidateTarget, replica_config
from proxy.pairing import PairBuilder
from proxy.recording.exchange import UpstreamResult
from proxy.recording.schema import ErrorInfo, Role

GOLDEN = Path(__file__).with_name("pair_corpus.jsonl")

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
SSE = "text/event-stream"
JSON = "application/json"
SECRET_KEY = "sk-proj-AbCdEfGhIjKlMnOp1234"
USAGE = {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
# The live sample rate each case is recorded at, in turn: a rate changed at run time.
SAMPLE_RATES = (1.0, 0.25, 0.05)


@dataclass
class Case:
    name: str
    route: str
    body: dict[str, Any]
    incumbent: UpstreamResult
    # (candidate name, or "replica", and its result); candidates come from ``candidates``.
    mirrors: list[tuple[str, UpstreamResult]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": JSON})
    candidates: list[dict[str, Any]] = field(
        default_factory=lambda: [{"name": "cand", "url": "http://127.0.0.1:2"}]
    )
    recording: dict[str, Any] = field(default_factory=dict)


def ok(
    body: bytes,
    content_type: str | None = JSON,
    *,
    status: int | None = 200,
    encoding: str | None = None,
    complete: bool = True,
    truncated: bool = False,
    error: ErrorInfo | None = None,
) -> UpstreamResult:
    return UpstreamResult(
        status=status,
        content_type=content_type,
        content_encoding=encoding,
        body=body,
        complete=complete,
        truncated=truncated,
        latency_ms=12.5,
        ttft_ms=3.25 if content_type == SSE else 12.5,
        error=error,
    )


def failed(kind: str, message: str) -> UpstreamResult:
    return UpstreamResult(latency_ms=30000.0, error=ErrorInfo(kind=kind, message=message))


def chat_json(content: Any = "Paris is the capital.", **message: Any) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1718000000,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, **message},
                    "logprobs": None,
                    "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                }
            ],
            "usage": USAGE,
        }
    )


def sse(*payloads: Any, done: bool = True) -> bytes:
    frames = [
        b"data: " + (p if isinstance(p, bytes) else orjson.dumps(p)) + b"\n\n" for p in payloads
    ]
    return b"".join(frames) + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "model": "gpt-4o-2024-08-06", "choices": [choice], **extra}


def chat_stream(pieces: list[str], done: bool = True) -> bytes:
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": p}) for p in pieces]
    chunks += [chunk({}, "stop"), {"id": "c1", "choices": [], "usage": USAGE}]
    return sse(*chunks, done=done)


TOOL_CALLS = [
    {"id": "call_A", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
    {"id": "call_B", "type": "function", "function": {"name": "mail", "arguments": '{"to": '
     '"bob@example.com"}'}},
]  # fmt: skip


def responses_events() -> bytes:
    fn = {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "get_weather"}
    final = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4.1-2025-04-14",
        "status": "completed",
        "output": [],
        "usage": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
    }
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**final, "status": "in_progress"}},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "Mail jane@"},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "example.com."},
        {"type": "response.output_item.added", "output_index": 1, "item": fn},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"a"'},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": ": 1}"},
        {"type": "response.completed", "response": final},
    ]
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


def handpicked() -> Iterator[Case]:
    request = orjson.loads(CHAT_REQUEST)
    bench_headers = {
        "Content-Type": JSON,
        "Authorization": f"Bearer {SECRET_KEY}",
        "User-Agent": "wrk",
    }
    yield Case(
        "bench", CHAT, request, ok(CHAT_RESPONSE), [("cand", ok(CHAT_RESPONSE))], bench_headers
    )
    yield Case("chat_json_no_mirrors", CHAT, request, ok(CHAT_RESPONSE), candidates=[])
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    yield Case(
        "chat_sse",
        CHAT,
        streamed,
        ok(chat_stream(["The", " capital", " is", " Paris."]), SSE),
        [("cand", ok(chat_stream(["Paris", "."]), "text/event-stream; charset=utf-8"))],
    )
    yield Case(
        "chat_sse_cut_and_truncated",
        CHAT,
        streamed,
        ok(chat_stream(["Hel", "lo"], done=False)[:-40], SSE, complete=False),
        [("cand", ok(chat_stream(["Hel", "lo"]), SSE, truncated=True))],
    )
    yield Case(
        "chat_sse_error_mid_stream",
        CHAT,
        streamed,
        ok(sse(chunk({"content": "Par"}), {"error": {"message": "overloaded", "code": None}}), SSE),
        [
            (
                "cand",
                ok(
                    sse(chunk({"content": "a"})).replace(
                        b"data: [DONE]", b"event: error\ndata: boom"
                    ),
                    SSE,
                ),
            )
        ],
    )
    yield Case(
        "tool_calls",
        CHAT,
        {**request, "tools": [{"type": "function", "function": {"name": "get_weather"}}]},
        ok(chat_json(None, tool_calls=TOOL_CALLS)),
        [
            (
                "cand",
                ok(
                    sse(
                        chunk(
                            {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "call_A",
                                        "function": {"name": "get_", "arguments": ""},
                                    }
                                ]
                            }
                        ),
                        chunk(
                            {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "function": {"name": "weather", "arguments": '{"x"'},
                                    }
                                ]
                            }
                        ),
                        chunk(
                            {
                                "tool_calls": [
                                    {"id": "call_C", "function": {"name": "f", "arguments": ": 1}"}}
                                ]
                            }
                        ),
                        chunk({}, "tool_calls"),
                    ),
                    SSE,
                ),
            )
        ],
    )
    yield Case(
        "refusals",
        CHAT,
        request,
        ok(chat_json(None, refusal="I can't help with that.")),
        [
            (
                "cand",
                ok(
                    sse(
                        chunk({"refusal": "I'm sorry, "}),
                        chunk({"refusal": "no."}),
                        chunk({}, "stop"),
                    ),
                    SSE,
                ),
            )
        ],
    )
    yield Case(
        "responses",
        RESPONSES,
        {"model": "gpt-4.1", "input": "hi", "stream": True},
        ok(responses_events(), SSE),
        [
            (
                "cand",
                ok(
                    orjson.dumps(
                        {
                            "id": "resp_2",
                            "model": "gpt-4.1-mini",
                            "status": "incomplete",
                            "incomplete_details": {"reason": "max_output_tokens"},
                            "output": [
                                {
                                    "type": "message",
                                    "content": [
                                        {"type": "output_text", "text": "Hi"},
                                        {"type": "refusal", "refusal": "no"},
                                    ],
                                },
                                {
                                    "type": "function_call",
                                    "call_id": "c",
                                    "name": "f",
                                    "arguments": "{}",
                                },
                            ],
                            "usage": None,
                        }
                    )
                ),
            )
        ],
    )
    yield Case(
        "errors",
        CHAT,
        request,
        ok(
            orjson.dumps(
                {"error": {"message": f"bad key {SECRET_KEY}", "type": "invalid_request_error"}}
            ),
            status=401,
            error=ErrorInfo(kind="http_status", message="HTTP 401"),
        ),
        [
            ("cand", failed("connect", f"cannot connect; key {SECRET_KEY}, mail ops@example.com")),
            ("c2", failed("timeout", "no answer within 30.0 s")),
        ],
        candidates=[
            {"name": "cand", "url": "http://127.0.0.1:2", "model": "my-model", "version": "v2"},
            {"name": "c2", "url": "http://127.0.0.1:3"},
        ],
    )
    yield Case(
        "statuses_none_and_5xx",
        CHAT,
        request,
        ok(b"<html><body>502 Bad Gateway</body></html>", "text/html", status=502),
        [("cand", UpstreamResult()), ("replica", ok(CHAT_RESPONSE))],
        recording={},
    )
    gz = gzip.compress(chat_json("zipped answer, mail zip@example.com"))
    deflated = zlib.compress(chat_json("deflated"))
    yield Case(
        "compressed",
        CHAT,
        request,
        ok(gz, encoding="gzip"),
        [
            ("cand", ok(deflated, encoding="deflate")),
            ("c2", ok(b"\x1f\x8bnot gzip", encoding="gzip")),
        ],
        candidates=[
            {"name": "cand", "url": "http://127.0.0.1:2"},
            {"name": "c2", "url": "http://127.0.0.1:3"},
        ],
    )
    yield Case(
        "non_json_bodies",
        "/v1/models",
        {"model": "x"},
        ok(b"\xff\xfe not json at all \x00", None),
        [("cand", ok(b"", JSON)), ("c2", ok(b'{"object": "list", "data": [{"id": "m"}]}'))],
        candidates=[
            {"name": "cand", "url": "http://127.0.0.1:2"},
            {"name": "c2", "url": "http://127.0.0.1:3"},
        ],
    )
    yield Case(
        "embeddings_and_completions",
        EMBEDDINGS,
        {"model": "text-embedding-3-small", "input": "call +1 (415) 555-2671"},
        ok(
            orjson.dumps(
                {
                    "object": "list",
                    "model": "te3",
                    "data": [{"embedding": [0.1, -2e-05, 1e20]}],
                    "usage": {"total_tokens": 5},
                }
            )
        ),
        [
            (
                "cand",
                ok(
                    orjson.dumps(
                        {
                            "model": "gpt-3.5-turbo-instruct",
                            "choices": [{"index": 0, "text": "Once", "finish_reason": "length"}],
                        }
                    )
                ),
            )
        ],
    )
    pii = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be nice", "name": "sys"},
            {
                "role": "user",
                "content": f"My key is {SECRET_KEY}, card 4111 1111 1111 1111, mail j.doe@ex.com",
                "name": "jane",
            },
        ],
        "metadata": {"user_email": "jane.doe@example.com", "team": "a", "jane@example.com": 1},
        "user": "EMP-123456",
    }
    yield Case(
        "redaction",
        CHAT,
        pii,
        ok(
            chat_json(
                "Sure j.doe@ex.com, your key sk-abcdefghijklmnopqrst and AKIAABCDEFGHIJKLMNOP",
                tool_calls=TOOL_CALLS,
            )
        ),
        [
            (
                "cand",
                ok(
                    chat_stream(
                        ["Bearer abcdefgh1234", " eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk"]
                    ),
                    SSE,
                ),
            )
        ],
        {
            "Content-Type": JSON,
            "User-Agent": "curl/8 Bearer abcdefghijklmnop",
            "X-Request-Id": "req jane@example.com",
            "Cookie": "sid=secret",
            "Authorization": f"Bearer {SECRET_KEY}",
        },
        recording={
            "redact": {
                "patterns": {"employee": r"EMP-\d{6}"},
                "drop_paths": ["metadata.user_email", "messages[*].name"],
            }
        },
    )
    yield Case(
        "redaction_builtins_only_with_drop_paths",
        CHAT,
        pii,
        ok(chat_json("mail a@b.co or call 020 7946 0958")),
        [("cand", ok(chat_json("nothing here " * 20)))],
        recording={
            "redact": {"drop_paths": ["metadata", "messages[0]"], "builtins": ["email", "phone"]}
        },
    )
    yield Case(
        "redaction_disabled",
        CHAT,
        pii,
        ok(chat_json("mail jane.doe@example.com")),
        [("cand", ok(chat_json("x")))],
        recording={"redact": {"enabled": False}},
    )
    yield Case(
        "request_body_over_the_cap",
        CHAT,
        {**request, "messages": [{"role": "user", "content": "é" * 300 + " jane@example.com"}]},
        ok(CHAT_RESPONSE),
        [("cand", ok(chat_json("ok")))],
        recording={"max_body_bytes": 333, "max_output_bytes": 200},
    )
    yield Case(
        "unicode_and_control_characters",
        CHAT,
        {
            "model": 7,
            "messages": [{"role": "user", "content": 'tab\there \u2028 \x01 "q" \\ ٣٤٥٦٧٨٩٠١٢'}],
        },
        ok(chat_json('Réponse: ٣٤٥٦٧٨٩٠١٢ \u0000 \ud7ff 😀 "quoted" back\\slash')),
        [("cand", ok(chat_json("")))],
        headers={},
    )
    yield Case(
        "two_choices",
        COMPLETIONS,
        {"model": "gpt-3.5-turbo-instruct", "prompt": "x", "n": 2, "stream": False},
        ok(
            orjson.dumps(
                {
                    "model": "m",
                    "choices": [
                        {"index": 1, "text": "b"},
                        {"index": 0, "text": "a", "finish_reason": "stop"},
                    ],
                }
            )
        ),
        [
            (
                "cand",
                ok(
                    orjson.dumps(
                        {
                            "model": "",
                            "choices": [{"index": 0, "text": "a"}, {"index": 0, "text": "b"}],
                            "usage": None,
                        }
                    )
                ),
            )
        ],
    )


# Choices that are odd in every way an upstream can make them odd, for the JSON fast path.
_ODD_INDEXES: list[Any] = [0, 1, 2, True, False, None, -1, "0", 0.0]
_ODD_TEXT: list[Any] = ["hi", "", None, 5, ["x"], "mail x@y.io"]


def _odd_call(rng: random.Random) -> Any:
    call: dict[str, Any] = {}
    if rng.random() < 0.7:
        call["index"] = rng.choice(_ODD_INDEXES)
    if rng.random() < 0.7:
        call["id"] = rng.choice(["call_1", "call_2", "", None, 3])
    if rng.random() < 0.8:
        function: Any = {}
        if rng.random() < 0.8:
            function["name"] = rng.choice(_ODD_TEXT)
        if rng.random() < 0.8:
            function["arguments"] = rng.choice(['{"a": 1}', "", None, {"a": 1}])
        call["function"] = function if rng.random() < 0.9 else "f"
    return call if rng.random() < 0.95 else "not a call"


def _odd_choice(rng: random.Random, position: int) -> Any:
    choice: dict[str, Any] = {}
    if rng.random() < 0.85:
        choice["index"] = position if rng.random() < 0.6 else rng.choice(_ODD_INDEXES)
    if rng.random() < 0.85:
        message: dict[str, Any] = {"role": "assistant"}
        if rng.random() < 0.8:
            message["content"] = rng.choice(_ODD_TEXT)
        if rng.random() < 0.3:
            message["refusal"] = rng.choice(_ODD_TEXT)
        if rng.random() < 0.4:
            message["tool_calls"] = [_odd_call(rng) for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.1:
                message["tool_calls"] = rng.choice([None, "x", {}])
        choice["message"] = message if rng.random() < 0.9 else rng.choice([None, "m", []])
    if rng.random() < 0.15:
        choice["delta"] = {"content": rng.choice(_ODD_TEXT)}
    if rng.random() < 0.15:
        choice["text"] = rng.choice(_ODD_TEXT)
    if rng.random() < 0.8:
        choice["finish_reason"] = rng.choice(["stop", "length", None, 1])
    return choice if rng.random() < 0.95 else rng.choice([None, "c", [1]])


def odd_chat_json(rng: random.Random) -> bytes:
    body: dict[str, Any] = {"id": "x", "object": "chat.completion"}
    if rng.random() < 0.8:
        body["model"] = rng.choice(["gpt-4o", "", None, 4])
    if rng.random() < 0.9:
        choices: Any = [_odd_choice(rng, i) for i in range(rng.randint(0, 3))]
        body["choices"] = choices if rng.random() < 0.95 else rng.choice([None, {}, "c"])
    if rng.random() < 0.6:
        body["usage"] = rng.choice([USAGE, None, [1], {}])
    if rng.random() < 0.05:
        body["error"] = rng.choice([None, {"message": "m"}])
    return orjson.dumps(body if rng.random() < 0.97 else rng.choice([[body], "s", 1, None]))


def random_cases(count: int = 120, seed: int = 20261127) -> Iterator[Case]:
    rng = random.Random(seed)
    for i in range(count):
        route = rng.choice(
            [CHAT, CHAT, CHAT, COMPLETIONS, "/openai/deployments/d/chat/completions?v=1"]
        )
        body = odd_chat_json(rng)
        complete = rng.random() < 0.9
        yield Case(
            f"odd_{i}",
            route,
            {"model": "m", "messages": []},
            ok(
                body,
                rng.choice([JSON, JSON, None, "application/json; charset=utf-8"]),
                complete=complete,
            ),
            [("cand", ok(odd_chat_json(rng)))],
        )


def cases() -> list[Case]:
    return [*handpicked(), *random_cases()]


def build(case: Case, index: int, submit: Callable[[Any], None]) -> None:
    """Build ``case``'s record with the real :class:`PairBuilder`; ``submit`` receives it."""

    class Sink:
        healthy = True

        def submit(self, record: Any) -> None:
            submit(record)

        async def start(self) -> None:
            return None

        async def stop(self) -> None:
            return None

    config = parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:1", "version": "inc-v1"},
            "candidates": case.candidates,
            "recording": {"campaign": "corpus", **case.recording},
        }
    )
    metrics = ProxyMetrics(CollectorRegistry())
    targets = {c.name: CandidateTarget(c, metrics) for c in config.candidates}
    targets["replica"] = CandidateTarget(replica_config(config), metrics, role=Role.REPLICA)
    headers = CIMultiDictProxy(CIMultiDict(case.headers))
    rate = SAMPLE_RATES[index % len(SAMPLE_RATES)]
    pending = PendingPair("POST", case.route, case.route, case.body, headers, 0.0, sample_rate=rate)
    pending.pair_id = f"pair-{index}"
    pending.timestamp = 1_764_000_000.125 + index
    builder = PairBuilder(config, Sink())
    builder(pending, case.incumbent, [(targets[name], result) for name, result in case.mirrors])


async def build_all(encode: Callable[[Any], bytes]) -> list[tuple[str, bytes]]:
    """Every case's name and encoded record (a pending pair needs a running loop)."""
    out: list[bytes] = []
    for index, case in enumerate(cases()):
        build(case, index, lambda record: out.append(encode(record)))
    names = [case.name for case in cases()]
    assert len(out) == len(names)
    return list(zip(names, out, strict=True))


def write_golden(encode: Callable[[Any], bytes]) -> None:
    lines = [
        orjson.dumps({"case": name, "record": orjson.loads(record)})
        for name, record in asyncio.run(build_all(encode))
    ]
    GOLDEN.write_bytes(b"\n".join(lines) + b"\n")


if __name__ == "__main__":
    from proxy.recording.encode import encode_record

    write_golden(encode_record)
