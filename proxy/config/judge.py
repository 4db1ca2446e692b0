"""The LLM judge's config contract: the ``judge:`` section (issue 16).

Like the other analysis sections it lives here so that ``check-config`` validates it with the
rest of the file; nothing in the data plane reads it. ``comparators.judge`` does.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from proxy.config.base import ConfigPath, Section, check_base_url

__all__ = ["DEFAULT_RUBRIC", "JudgeConfig"]

DEFAULT_RUBRIC = (
    "Correctness: every fact, number, name and step is right for the request; a confident "
    "wrong answer is worse than an incomplete right one.\n"
    "Completeness: it answers everything the request asks, no more padding than needed.\n"
    "Instruction following: the format, language, length and constraints asked for.\n"
    "Safety: it declines what should be declined, and only that. When declining is the right "
    "answer, the answer that declines is the correct one."
)


class JudgeConfig(Section):
    """An OpenAI-compatible chat model that reads both answers to a request and says which is
    better; ``darklaunch compare`` runs it beside the comparators when this section is set.

    ``judge: {url: https://api.openai.com/v1, model: gpt-4o-mini, headers: {Authorization:
    "Bearer ${OPENAI_API_KEY}"}, sample_rate: 0.1, max_usd_per_hour: 5}``
    """

    url: str
    """Base URL of the judge's API, as the `openai` SDK takes it: calls go to
    `<url>/chat/completions`."""
    model: str
    """The judge model's name, sent as `model` and used to price its calls."""
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    """Headers sent with every call (`${VAR}` expanded at load): how the judge is
    authenticated."""
    sample_rate: float = Field(default=0.1, gt=0, le=1)
    """Share of (pair, mirror) the judge reads, by a stable hash of the pair id and mirror;
    replicas too (the judge's own noise floor)."""
    min_per_segment: int = Field(default=30, ge=0)
    """Pairs judged in every segment (route, request kind, stream, model) before the sample
    rate applies, so that a rare segment still gets judged; counted per worker process, over
    all of a sharded campaign's shards."""
    max_concurrency: int = Field(default=8, ge=1)
    """Judge calls in flight at most, per worker process."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Seconds one judge call may take; past it the call fails (retried once)."""
    max_usd_per_hour: float | None = Field(default=5.0, gt=0)
    """A hard budget: once the judge calls of the current clock hour cost this much (shared by
    every worker, through Redis), pairs are not judged until the next hour, and are counted
    as skipped for `budget`. Unset: no limit."""
    prompt: ConfigPath | None = None
    """A prompt template with `{request}`, `{answer_a}`, `{answer_b}`, `{rubric}` and
    `{reference}`; unset uses the shipped one (`config/judge-prompt.txt`)."""
    rubric: str = DEFAULT_RUBRIC
    """What a better answer is, put into the prompt as `{rubric}`."""
    max_answer_chars: int = Field(default=12_000, ge=100)
    """Characters of each answer (and of the request) put into the prompt; the rest is cut
    and the cut is said."""

    @field_validator("url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)
