"""The demo's bundled prompt set: varied enough that the simulated candidate's per-prompt
divergence and refusal rates show up as rates, not as one or two unlucky prompts."""

from __future__ import annotations

from typing import Any

__all__ = ["PROMPTS", "WEATHER_TOOL"]

_TOPICS = (
    "a write-ahead log", "consumer groups in Redis streams", "blue-green deployment",
    "tail latency in web services", "cache invalidation", "database connection pooling",
    "circuit breakers", "idempotent APIs", "rate limiting", "feature flags",
    "canary releases", "vector search", "prompt caching", "token budgets for LLMs",
    "retries with backoff", "schema migrations", "incident postmortems", "load shedding",
    "TLS certificate rotation", "observability with Prometheus", "garbage collection pauses",
    "event sourcing", "sharding a database", "model distillation", "quantised inference",
    "SSE streaming", "on-call handovers", "batch versus streaming ETL", "A/B testing",
    "cost control for GPU fleets",
)  # fmt: skip
_TASKS = (
    "Explain {} to a new engineer.",
    "What are the main trade-offs of {}?",
    "Give three common mistakes with {}.",
    "Summarise {} in two sentences.",
    "How would you test {} in CI?",
    "Write a short checklist for {}.",
)
PROMPTS: tuple[str, ...] = tuple(task.format(topic) for topic in _TOPICS for task in _TASKS)

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["C", "F"]},
            },
            "required": ["city"],
        },
    },
}
