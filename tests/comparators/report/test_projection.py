"""The monthly cost projection scales by the sample rate each pair was recorded at, not by the
config handed to ``report``: the proxy records the live rate, the worker carries it to the
score, and the report weights each pair by it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest

from comparators.commands import report_campaign
from comparators.report.build import SECONDS_PER_MONTH, build_report
from comparators.scores import ScoreRecord
from comparators.service import run_worker
from proxy.config.loading import parse_config
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.comparators.score_factories import score
from tests.conftest import ProxyFactory, read_records

CHAT = "/v1/chat/completions"
START = 1_700_000_000.0


def _pairs(
    rates: Sequence[float | None], route: str = CHAT, start: float = START
) -> list[ScoreRecord]:
    return [
        score(f"{route}-{i}", route=route, timestamp=start + i, sample_rate=rate, mirror_usd=0.002)
        for i, rate in enumerate(rates)
    ]


def test_each_pair_stands_for_one_over_its_recorded_rate_whatever_the_config_says() -> None:
    # Ten requests at 100%, then the rate lowered to 10% through /admin/mirror: ten more pairs
    # that stand for a hundred requests. (A mean of the rates, 0.55, would say 20 / 0.55 / 19.)
    records = _pairs([1.0] * 10 + [0.1] * 10)
    expected = (10 / 1.0 + 10 / 0.1) / 19
    reports = [build_report(records, sample_rate=rate) for rate in (None, 0.05, 1.0)]
    for report in reports:
        cost = report.candidates[0].overall.cost
        assert cost.projection_rps == pytest.approx(expected)
        assert cost.monthly_delta_usd.value == pytest.approx(0.001 * expected * SECONDS_PER_MONTH)
        assert "at recorded sample rate 0.1 to 1" in cost.projection_basis
        assert not any("sample rate" in note for note in report.notes)


def test_slices_are_projected_at_their_share_of_the_weighted_traffic() -> None:
    records = _pairs([1.0] * 10) + _pairs([0.1] * 10, route="/v1/responses", start=START + 10)
    rows = {r.key: r for r in build_report(records).candidates[0].rows}
    total = rows["all"].cost.projection_rps
    assert total is not None
    assert rows[CHAT].cost.projection_rps == pytest.approx(total * 10 / 110)
    assert rows["/v1/responses"].cost.projection_rps == pytest.approx(total * 100 / 110)


def test_pairs_recorded_without_a_rate_fall_back_to_the_config_and_a_note_says_so() -> None:
    records = _pairs([0.5] * 5 + [None] * 5)
    report = build_report(records, sample_rate=0.25)
    assert report.candidates[0].overall.cost.projection_rps == pytest.approx((10 + 20) / 9)
    [note] = [n for n in report.notes if "without their sample rate" in n]
    assert "5 of 10 pairs" in note
    assert "mirror.sample_rate 0.25" in note
    assert "5 without a recorded rate, at the config's 0.25" in (
        report.candidates[0].overall.cost.projection_basis
    )


def _config(redis_url: str, campaign: str, **sections: Any) -> Any:
    return parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:9"},
            "recording": {"redis_url": redis_url, "campaign": campaign},
            "prices": {
                "models": {
                    "big-m": {"input_cost_per_token": 1e-5, "output_cost_per_token": 3e-5},
                    "small-m": {"input_cost_per_token": 1e-7, "output_cost_per_token": 3e-7},
                }
            },
            "worker": {"block_ms": 50},
            **sections,
        }
    )


async def test_the_proxy_records_the_live_rate_and_report_projects_from_it(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    token = "adm-projection-1"
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": "cand", "url": cand.url, "model": "small-m"}],
            recording={"redis_url": redis_url, "campaign": campaign},
            admin={"token": token},
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        body = {"model": "big-m", "messages": [{"role": "user", "content": "hi"}]}
        for i in range(50):
            if i == 10:  # an operator lowers the rate while the campaign runs
                async with session.post(
                    proxy.admin_url + "/admin/mirror",
                    json={"sample_rate": 0.5},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    assert response.status == 200
            async with session.post(proxy.url + CHAT, json=body) as response:
                assert response.status == 200
                await response.read()
    records = sorted(await read_records(redis_url, campaign), key=lambda r: r.timestamp)
    assert [r.sample_rate for r in records[:10]] == [1.0] * 10
    assert {r.sample_rate for r in records[10:]} == {0.5}
    assert 10 < len(records) < 50  # about half of the last forty were sampled

    await run_worker(_config(redis_url, campaign), once=True, serve_metrics=False)
    span = records[-1].timestamp - records[0].timestamp
    expected = sum(1 / (r.sample_rate or 1.0) for r in records) / span
    outputs = [
        await report_campaign(_config(redis_url, campaign, **mirror), campaign, "json")
        for mirror in ({}, {"mirror": {"sample_rate": 0.5}}, {"mirror": {"sample_rate": 1.0}})
    ]
    costs = [output.report.candidates[0].overall.cost for output in outputs]
    for cost in costs:  # the config without mirror: (rate 0.05) projects the same
        assert cost.projection_rps == pytest.approx(expected)
        assert cost.monthly_delta_usd == costs[0].monthly_delta_usd
    assert costs[0].monthly_delta_usd.value is not None
    assert costs[0].monthly_delta_usd.value < 0  # the small model is cheaper
