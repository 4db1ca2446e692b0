"""Write the calibration study's results as ``docs/calibration.md``: a table a reviewer can
check against the acceptance targets, plus the measured effect sizes that show each setting
really is the candidate it claims to be."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml

from comparators.gate.policy import GatePolicy
from comparators.gate.result import Verdict
from loadtests.calibration_result import SettingResult

__all__ = ["write_doc"]


_NOTES = """## Notes

- `limits` meets every limit at once: 5 points of wrong answers, +1 point of errors, +1 point
  of refusals and every latency x1.2 (median, p95 and streamed TTFT at their limits; p99 at
  1.2, under its 1.3). An extra refusal is also a changed answer, so the quality check sits a
  little beyond its limit (the measured excess above). Its FAIL rate is the family-wise
  false-FAIL rate that the Bonferroni-adjusted FAIL bounds control across every check,
  segment and candidate.
- `segment` and `tail` run 5,000 pairs: 4% of 2,000 pairs is 80, under `min_segment_pairs`,
  and a p99 of 2,000 latencies rests on 20 of them. Each check's power at the campaign's
  size is in the gate's "FAILs from" column.
- The wrong answers include subtle errors the fact tokens cannot see (a swapped winner: the
  same names in another order) and paraphrases that round a figure on both sides (the noise
  floor): the study measures the gate with them, not around them."""


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _counts(counts: Counter[str], limit: int = 6) -> str:
    shown = counts.most_common(limit)
    text = ", ".join(f"{name} ({n})" for name, n in shown) or "none"
    return text + (f", and {len(counts) - limit} more" if len(counts) > limit else "")


def _row(result: SettingResult) -> str:
    setting = result.setting
    low, high = result.interval
    effect = (
        f"wrong {_num(result.mean('wrong_share'), '.1%')}, "
        f"excess changed {_num(result.mean('excess_change'), '+.3f')}, "
        f"median {_num(result.mean('median_ratio'), '.2f')}, "
        f"p95 {_num(result.mean('p95_ratio'), '.2f')}, "
        f"p99 {_num(result.mean('p99_ratio'), '.2f')}"
    )
    ttft = result.mean("ttft_ratio")
    if ttft is not None:
        effect += f", TTFT p95 {ttft:.2f}"
    cells = [
        f"`{setting.key}`: {setting.title}",
        str(len(result.outcomes)),
        f"{setting.scenario.pairs:,}",
        str(result.count(Verdict.FAIL)),
        str(result.count(Verdict.PASS)),
        str(result.count(Verdict.INCONCLUSIVE)),
        f"{result.rate:.0%} [{low:.0%}, {high:.0%}]",
        setting.target,
        "yes" if result.met else "**no**",
        effect,
        f"{result.wall_seconds:.0f} s",
    ]
    return "| " + " | ".join(cells) + " |"


def write_doc(
    path: Path,
    results: Sequence[SettingResult],
    policy: GatePolicy,
    *,
    total_seconds: float,
    machine: str,
) -> None:
    lines = [
        "# Gate calibration",
        "",
        "Measured by `python -m loadtests.calibration` "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}, {machine}; "
        f"{total_seconds:.0f} s in total). Rerun it after changing a comparator or the gate.",
        "",
        "`quality: judge` (the LLM judge) is calibrated apart: "
        "[calibration-judge.md](calibration-judge.md).",
        "",
        "Each seed is one realistic campaign (`loadtests/realistic`): prose, short facts, JSON "
        "extraction, tool calls and prompts the incumbent refuses, 40% streamed, tagged by "
        "tenant and feature. Every answer is worded afresh on every side and call (openers, "
        "closers, synonyms, sentence order, number formatting), so no two sides ever agree word "
        "for word; 3% of replica and candidate answers differ in content though both are fine "
        "(a figure rounded, a detail left out): the noise floor. Half the pairs carry a replica "
        "(the incumbent asked again). Wrong answers are *subtle* (one number, name, date, amount "
        "or negation in prose; one JSON field; one tool argument; a swapped winner) or *gross* "
        "(an answer to another question, the wrong tool). Every campaign is scored by the real "
        "`ScoringEngine` (comparators: semantic, json, tool_calls, outcome, latency) and judged "
        "by `comparators.gate.verdict.evaluate` with the shipped policy below, segments "
        "included.",
        "",
        "| setting | seeds | pairs per seed | FAIL | PASS | INCONCLUSIVE | rate [95% CI] "
        "| target | met | mean measured effect | runtime |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_row(r) for r in results),
        "",
        "The rate is the share of seeds with the verdict the target counts, with Wilson's "
        "interval over seeds. *Wrong* is the generator's ground truth: the share of pairs whose "
        "candidate answer is substantively wrong or an extra refusal. The other effects are the "
        "means over seeds of the gate's own estimates on all pairs: the changed-answer rate "
        "over the noise floor, and candidate/incumbent latency ratios (Hodges–Lehmann median, "
        "bootstrap p95 and p99, p95 of streamed TTFT).",
        "",
        *_NOTES.splitlines(),
        "",
        "## Which checks decided",
        "",
        "| setting | FAIL checks, all pairs and [segment] (seeds) | INCONCLUSIVE checks on all "
        "pairs (seeds) |",
        "| --- | --- | --- |",
    ]
    for result in results:
        failed, unsure = result.failed_checks(), result.inconclusive_checks()
        lines.append(f"| `{result.setting.key}` | {_counts(failed)} | {_counts(unsure)} |")
    changed = {r.setting.key: dict(r.setting.policy) for r in results if r.setting.policy}
    lines += [
        "",
        "## Policy used",
        "",
        "The shipped `gate.yaml`"
        + (
            "; these settings change keys: "
            + "; ".join(f"`{key}`: {value}" for key, value in changed.items())
            if changed
            else ""
        )
        + ".",
        "",
        "```yaml",
        yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
