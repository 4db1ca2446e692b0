"""Write the calibration study's results as ``docs/calibration.md``: a table a reviewer can
check against the acceptance targets, plus the measured effect sizes that show each setting
really is the regression it claims to be."""

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


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in counts.most_common()) or "none"


def _row(result: SettingResult) -> str:
    setting = result.setting
    low, high = result.fail_interval
    target = "≥ 95%" if setting.expect_fail else "≤ 5%"
    effect = (
        f"excess {_num(result.mean('excess_divergence'), '+.3f')}, "
        f"p95 ratio {_num(result.mean('p95_ratio'), '.3f')}, "
        f"median ratio {_num(result.mean('median_ratio'), '.3f')}"
    )
    cells = [
        setting.title,
        str(len(result.outcomes)),
        f"{setting.pairs:,}",
        str(result.count(Verdict.FAIL)),
        str(result.count(Verdict.PASS)),
        str(result.count(Verdict.INCONCLUSIVE)),
        f"{result.fail_rate:.0%} [{low:.0%}, {high:.0%}]",
        target,
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
    factor: float,
    tail_share: float,
) -> None:
    lines = [
        "# Gate calibration",
        "",
        "Measured by `python -m loadtests.calibration` "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}, {machine}; "
        f"{total_seconds:.0f} s in total). Rerun it after changing the gate's statistics.",
        "",
        "Each seed is one synthetic campaign generated from the simulated model servers without "
        "sockets (`loadtests/synthetic.py`): the simulator's own wire builder writes every answer, "
        "with nondeterministic wording (`nondeterminism=0.3`) on every side and a 5% per-call "
        "chance of a substantively different answer on every side (the incumbent's own "
        "nondeterminism, about a 9.5% noise floor). Every pair has an incumbent and a candidate; "
        "half of them also have a replica (`noise_rate=0.5`). Pairs are scored by the real "
        "`ScoringEngine` and judged by `comparators.gate.verdict.evaluate` with the policy below.",
        "",
        "| setting | seeds | pairs per seed | FAIL | PASS | INCONCLUSIVE | FAIL rate [95% CI] "
        "| target | met | mean measured effect | runtime |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_row(r) for r in results),
        "",
        "The FAIL-rate interval is Wilson's, over seeds. The measured effect is the mean over "
        "seeds of the gate's own estimates: excess divergence over the noise floor (absolute), "
        "candidate/incumbent p95 latency ratio, and the Hodges–Lehmann median latency ratio.",
        "",
        "Campaign size: 3,000 pairs per seed (about 1,500 of them with a replica). The tail-only "
        "setting is the hardest, since its p95 sits where the slowed calls thin out the "
        "distribution, and it is the one closest to its target, so it sets the size.",
        "",
        "## Which checks decided",
        "",
        "| setting | FAIL checks (seeds) | INCONCLUSIVE checks (seeds) |",
        "| --- | --- | --- |",
    ]
    for result in results:
        failed, unsure = result.failed_checks(), result.inconclusive_checks()
        lines.append(f"| {result.setting.title} | {_counts(failed)} | {_counts(unsure)} |")
    lines += [
        "",
        f"The tail-only setting slows a random {tail_share:.0%} of calls by "
        f"x{factor:.2f}, the factor that raises the incumbent's p95 by 30% on a 20,000-call "
        "pilot sample. Its median moves only a few percent, so the rank-based median check "
        "passes it and the p95 ratio check is what fails it, as intended.",
        "",
        "## Policy used",
        "",
        "```yaml",
        yaml.safe_dump(policy.model_dump(), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
