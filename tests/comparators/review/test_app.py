"""The review app on a real Redis, served on 127.0.0.1: sessions, CSRF, the queues, the
``review`` and ``review-token`` commands, and (in Debian's chromium, through Playwright)
keyboard labelling and model output that must stay inert.

``DARKLAUNCH_SCREENSHOTS=1`` makes the browser test save ``docs/images/review-*.png`` for the
docs; without it nothing is written there.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml
from typer.testing import CliRunner

from comparators.builtin.json_diff import diff
from comparators.commands import export_campaign, report_campaign
from comparators.golden.store import load_version
from comparators.review.diffs import field_diffs
from comparators.review.label import load_labels
from comparators.review.queues import build_queues, load_campaign_data
from comparators.review.render import markdown_html
from comparators.review.tokens import hash_token, remove_reviewer
from proxy.cli import app as cli
from proxy.recording.keys import REVIEW_TOKENS_KEY, labels_key
from tests.comparators.review.helpers import (
    MIRROR,
    csrf_of,
    logged_in,
    make_pair,
    reviewer,
    served,
    write_feedback,
    write_judgement,
    write_pair,
)
from tests.comparators.score_factories import score
from tests.conftest import make_config, stream_entries

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECRET = "The secret answer is 42."
XSS = (
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "[click](javascript:alert('link'))",
    "<svg onload=alert('svg')></svg>",
    '"><script>alert("break-out")</script>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href=\"javascript:alert('a')\">a</a>",
    "[spaced](java\tscript:alert('tab'))",
    "<JaVaScRiPt:alert('autolink')>",
    "<iframe src=\"javascript:alert('frame')\"></iframe>",
    "```html\n<script>alert('fenced')</script>\n```",
    "[ok](https://example.com/ok)",
)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def token(redis_client: aioredis.Redis, campaign: str) -> AsyncIterator[str]:
    """A reviewer's token, whose entry is removed from the shared tokens hash afterwards."""
    name, given = await reviewer(redis_client, campaign)
    try:
        yield given
    finally:
        await remove_reviewer(redis_client, name)


async def _labels_written(client: aioredis.Redis, campaign: str) -> int:
    return int(await client.xlen(labels_key(campaign)))


# --- sessions and CSRF ---------------------------------------------------------------------


async def test_without_a_session_nothing_is_readable(
    redis_url: str, campaign: str, redis_client: aioredis.Redis, token: str
) -> None:
    await write_pair(redis_client, make_pair("p-1", campaign, candidate=SECRET))
    async with served(redis_url, campaign) as (base, _), aiohttp.ClientSession(base) as http:
        for path in ("/", "/q/worst", "/q/audit", f"/pair/p-1/{MIRROR}?q=worst"):
            async with http.get(path, allow_redirects=False) as answer:
                assert (answer.status, answer.headers["Location"]) == (302, "/login")
                assert SECRET not in await answer.text()
        async with http.get("/api/queue/worst") as answer:
            assert answer.status == 401
            assert "p-1" not in await answer.text()
        http.cookie_jar.update_cookies({"darklaunch_review": "forged"})
        async with http.get(f"/pair/p-1/{MIRROR}", allow_redirects=False) as answer:
            assert answer.status == 302
        async with http.post(f"/pair/p-1/{MIRROR}", data={"verdict": "same"}) as answer:
            assert answer.status == 401
        async with http.post("/login", data={"token": token + "x"}) as answer:
            assert answer.status == 401
            assert "not valid" in await answer.text()
    assert await _labels_written(redis_client, campaign) == 0
    # Only the hash is stored, never the token.
    assert hash_token(token).encode() in await redis_client.hvals(REVIEW_TOKENS_KEY)


async def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(
    redis_url: str, campaign: str, redis_client: aioredis.Redis, token: str
) -> None:
    await write_pair(redis_client, make_pair("p-1", campaign))
    path = f"/pair/p-1/{MIRROR}?q=worst"
    async with served(redis_url, campaign) as (base, _), logged_in(base, token) as http:
        csrf = await csrf_of(http, path)
        for form in ({"verdict": "same"}, {"verdict": "same", "csrf": "x" + csrf}):
            async with http.post(path, data=form, allow_redirects=False) as answer:
                assert answer.status == 403
        assert await _labels_written(redis_client, campaign) == 0
        cross = {"Origin": "http://evil.example"}
        form = {"verdict": "same", "csrf": csrf}
        async with http.post(path, data=form, headers=cross, allow_redirects=False) as answer:
            assert answer.status == 403
        assert await _labels_written(redis_client, campaign) == 0
        async with http.post(path, data=form, allow_redirects=False) as answer:
            assert answer.status == 303  # the same form with its token is accepted
    [label] = await load_labels(redis_client, campaign)
    assert (label.pair_id, label.verdict, label.reviewer) == ("p-1", "same", f"ann-{campaign}")


async def test_pages_carry_a_nonce_csp_and_a_strict_cookie(
    redis_url: str, campaign: str, redis_client: aioredis.Redis, token: str
) -> None:
    await write_pair(redis_client, make_pair("p-1", campaign))
    async with served(redis_url, campaign) as (base, _):
        async with (
            aiohttp.ClientSession(base) as http,
            http.post("/login", data={"token": token}, allow_redirects=False) as ans,
        ):
            cookie = ans.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        async with logged_in(base, token) as http, http.get(f"/pair/p-1/{MIRROR}") as answer:
            html = await answer.text()
            csp = answer.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce is not None
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert re.findall(r"<script[^>]*>", html) == [f'<script nonce="{nonce.group(1)}">']


async def test_removing_a_token_ends_its_sessions(
    redis_url: str, campaign: str, redis_client: aioredis.Redis, token: str
) -> None:
    await write_pair(redis_client, make_pair("p-1", campaign))
    async with served(redis_url, campaign) as (base, _), logged_in(base, token) as http:
        async with http.get("/", allow_redirects=False) as answer:
            assert answer.status == 200
        await remove_reviewer(redis_client, f"ann-{campaign}")
        async with http.get("/", allow_redirects=False) as answer:
            assert answer.status == 302


# --- queues --------------------------------------------------------------------------------


async def test_worst_puts_judge_losses_first_then_meaning_then_breaches(
    campaign: str, redis_client: aioredis.Redis
) -> None:
    for i, similarity in enumerate((0.9, 0.3, 1.0, 0.6, 1.0)):
        breaches = ["latency_ms"] if i == 4 else None
        pair = make_pair(f"p-{i}", campaign)
        await write_pair(redis_client, pair, similarity=similarity, breaches=breaches)
    await write_judgement(redis_client, campaign, "p-2", "incumbent", "candidate is wrong")
    await write_judgement(redis_client, campaign, "p-1", "mirror")
    await write_feedback(redis_client, campaign, "p-3")
    await write_feedback(redis_client, campaign, None)  # not mirrored: no pair to show
    data = await load_campaign_data(redis_client, campaign)
    queues = await build_queues(redis_client, campaign, data)
    assert [i.pair_id for i in queues["worst"]] == ["p-2", "p-1", "p-3", "p-0", "p-4"]
    assert queues["worst"][0].why == "judge preferred the incumbent"
    assert queues["worst"][-1].why == "budget breached: latency_ms"
    assert [i.pair_id for i in queues["reported"]] == ["p-3"]
    assert sorted(i.pair_id for i in queues["audit"]) == [f"p-{i}" for i in range(5)]


async def test_audit_is_stratified_and_stable(campaign: str, redis_client: aioredis.Redis) -> None:
    for i in range(40):
        route = "/v1/embeddings" if i < 4 else "/v1/chat/completions"
        await write_pair(redis_client, make_pair(f"p-{i:02d}", campaign, route=route))
    data = await load_campaign_data(redis_client, campaign)
    first = (await build_queues(redis_client, campaign, data))["audit"]
    again = (await build_queues(redis_client, campaign, data))["audit"]
    assert first == again
    # The small route is not drowned out: it alternates with the busy one until it runs out.
    assert [i.route for i in first[:8:2]] == ["/v1/chat/completions"] * 4
    assert [i.route for i in first[1:8:2]] == ["/v1/embeddings"] * 4
    other = (await build_queues(redis_client, campaign + "-other", data))["audit"]
    assert [i.pair_id for i in other] != [i.pair_id for i in first]


# --- the field diff on the pair page --------------------------------------------------------


def _json_details(incumbent: Any, candidate: Any) -> dict[str, Any]:
    """``details["json"]`` as the JSON comparator writes it, from its own structural diff."""
    found = diff(incumbent, candidate)
    return {"diff": found.entries, "counts": found.counts}


async def test_the_pair_page_lists_the_json_fields_that_differ(
    redis_url: str, campaign: str, redis_client: aioredis.Redis, token: str
) -> None:
    hostile = "<script>alert('field')</script>"
    incumbent = {"city": "Paris", "country": "France", "note": hostile}
    candidate = {"city": "Lyon", "country": "France", "note": hostile}
    pair = make_pair(
        "p-json", campaign, incumbent=json.dumps(incumbent), candidate=json.dumps(candidate)
    )
    await write_pair(redis_client, pair, details={"json": _json_details(incumbent, candidate)})
    evil = {
        "a": {"b": [1, {"<b>key</b>": "x"}]},
        "<img src=x onerror=alert(1)>": "y" * 500,
        "q": "<script>alert('value')</script>",
    }
    other = make_pair("p-evil", campaign, incumbent="{}", candidate=json.dumps(evil))
    await write_pair(redis_client, other, details={"json": _json_details({}, evil)})
    await write_pair(redis_client, make_pair("p-text", campaign))
    async with served(redis_url, campaign) as (base, _), logged_in(base, token) as http:
        pages = {}
        for pair_id in ("p-json", "p-evil", "p-text"):
            async with http.get(f"/pair/{pair_id}/{MIRROR}?q=worst") as answer:
                assert answer.status == 200
                pages[pair_id] = await answer.text()
    rows = re.findall(r'<tr class="field-diff">(.*?)</tr>', pages["p-json"], re.DOTALL)
    assert len(rows) == 1  # only the city changed: the equal fields are not listed
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", rows[0])]
    assert cells == ["JSON", "/city", "changed", "&#34;Paris&#34;", "&#34;Lyon&#34;"]
    evil_rows = re.findall(r'<tr class="field-diff">(.*?)</tr>', pages["p-evil"], re.DOTALL)
    assert len(evil_rows) == 3
    assert "<img" not in pages["p-evil"]
    assert "<script>alert" not in pages["p-evil"]
    card = re.search(r'<div class="card" id="field-diffs">(.*?)</div>', pages["p-evil"], re.DOTALL)
    assert card is not None
    assert "/&lt;img src=x onerror=alert(1)&gt;" in card.group(1)  # the key, as text
    assert "&#34;&lt;object of 1&gt;&#34;" in card.group(1)  # the comparator's summary
    assert "&#34;" + "y" * 199 + "…" in card.group(1)  # compact JSON, cut to 200 characters
    assert "y" * 200 not in card.group(1)
    assert "&#34;&lt;script&gt;alert(&#39;value&#39;)&lt;/script&gt;&#34;" in card.group(1)
    assert 'id="field-diffs"' not in pages["p-text"]  # nothing to list, no table


def test_field_diffs_name_tool_call_changes() -> None:
    arguments = diff({"city": "Paris", "units": "metric"}, {"city": "Lyon", "units": "metric"})
    calls = [
        {"index": 0, "incumbent": "lookup", "mirror": "lookup", "divergence": 0.5,
         "arguments": arguments.entries},
        {"index": 1, "incumbent": "book", "mirror": "cancel", "divergence": 1.0},
        {"index": 2, "incumbent": "pay", "mirror": None, "divergence": 1.0},
        {"index": 3, "incumbent": "ping", "mirror": "ping", "divergence": 1.0,
         "invalid_arguments": ["mirror"]},
    ]  # fmt: skip
    record = score("p-1", details={"tool_calls": {"calls": calls}})
    found = field_diffs(record)
    assert [(r.path, r.change, r.incumbent, r.candidate) for r in found.rows] == [
        ("call 0 lookup: /city", "changed", '"Paris"', '"Lyon"'),
        ("call 1: tool", "changed", '"book"', '"cancel"'),
        ("call 2: tool", "one side only", '"pay"', "(absent)"),
    ]
    assert found.notes == ["call 3 ping: arguments of the candidate are not JSON"]
    assert field_diffs(None).rows == []


def test_markdown_keeps_no_script_handler_or_unsafe_link() -> None:
    html = "".join(markdown_html(text) for text in XSS)
    assert "<script" not in html
    assert "<img" not in html
    assert "<svg" not in html
    assert "<iframe" not in html
    assert not re.search(r"href=\"(?!https://)", html)
    assert '<a href="https://example.com/ok" rel="noopener noreferrer nofollow">ok</a>' in html


# --- the commands --------------------------------------------------------------------------


def _config(tmp_path: Path, redis_url: str, campaign: str) -> Path:
    path = tmp_path / "darklaunch.yaml"
    data = {
        "incumbent": {"url": "http://127.0.0.1:9"},
        "recording": {"redis_url": redis_url, "campaign": campaign},
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_review_token_add_list_remove(tmp_path: Path, redis_url: str) -> None:
    name = f"bob-{uuid.uuid4().hex[:8]}"
    config = str(_config(tmp_path, redis_url, "default"))
    runner = CliRunner()
    added = runner.invoke(cli, ["review-token", "add", name, "--config", config])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert len(token) == 32  # 24 random bytes, base64url
    again = runner.invoke(cli, ["review-token", "add", name, "--config", config])
    assert again.exit_code == 2
    assert "already has a token" in again.stderr
    listed = runner.invoke(cli, ["review-token", "list", "--config", config])
    assert name in listed.stdout.split()
    assert token not in listed.stdout
    removed = runner.invoke(cli, ["review-token", "remove", name, "--config", config])
    assert removed.exit_code == 0
    listed = runner.invoke(cli, ["review-token", "list", "--config", config])
    assert name not in listed.stdout.split()
    bad = runner.invoke(cli, ["review-token", "add", "<b>", "--config", config])
    assert bad.exit_code == 2


async def _start_review(config: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "review", "--config", str(config), *args,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen = ""
    async with asyncio.timeout(30):
        while line := (await process.stderr.readline()).decode():
            seen += line
            if found := re.search(r"review app on (http://\S+) ", line):
                return process, found.group(1)
    raise AssertionError(f"review exited with {await process.wait()}:\n{seen}")


async def test_the_review_command_serves_until_sigterm(
    tmp_path: Path, redis_url: str, campaign: str, redis_client: aioredis.Redis
) -> None:
    config = _config(tmp_path, redis_url, campaign)
    empty = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "review", "--config", str(config), "--port", "0",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await empty.communicate()
    assert empty.returncode == 4, stderr.decode()
    await write_pair(redis_client, make_pair("p-1", campaign))
    process, base = await _start_review(config, "--port", "0")
    try:
        assert base.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession(base) as http:
            async with http.get("/login") as answer:
                assert answer.status == 200
            async with http.get("/", allow_redirects=False) as answer:
                assert answer.status == 302
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0


# --- in a real browser ---------------------------------------------------------------------


def _chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):  # CI installs it (make system-deps): missing there is a failure
            pytest.fail("chromium is not installed; CI must install Debian's chromium")
        pytest.skip("needs Debian's chromium (apt-get install chromium); CI runs this test")
    return CHROMIUM


SHOTS = ROOT / "docs" / "images" if os.environ.get("DARKLAUNCH_SCREENSHOTS") else None


async def _shot(page: Any, name: str) -> None:
    if SHOTS is not None:
        await page.screenshot(path=str(SHOTS / f"review-{name}.png"), full_page=True)


async def test_labelling_five_pairs_with_the_keyboard_only(
    tmp_path: Path, redis_url: str, campaign: str, redis_client: aioredis.Redis, token: str
) -> None:
    from playwright.async_api import async_playwright

    chromium = _chromium()
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Find a city"}}]
    for i in range(6):
        answer = f"**Lyon** is the capital, #{i}.\n\n- a list\n- of facts"
        pair = make_pair(f"p-{i}", campaign, candidate=answer, tools=tools)
        await write_pair(redis_client, pair, similarity=0.1 + 0.1 * i)
    await write_judgement(redis_client, campaign, "p-0", "incumbent", "Lyon is not the capital.")
    async with served(redis_url, campaign) as (base, _), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(base + "/login")
        await _shot(page, "login")
        await page.fill("#token", token)
        async with page.expect_navigation():
            await page.press("#token", "Enter")
        assert page.url == base + "/", await page.content()
        await page.goto(base + "/q/worst")
        await _shot(page, "queue")
        await page.goto(base + f"/pair/p-0/{MIRROR}?q=worst")
        assert "Lyon is not the capital." in await page.inner_text("#judge ~ pre")
        await _shot(page, "pair")

        async def press(key: str, then: str) -> None:
            async with page.expect_navigation():
                await page.keyboard.press(key)
            assert await page.inner_text("#pair-id") == then

        await press("3", "p-1")
        await page.keyboard.press("e")
        await page.keyboard.type("Marseille.")
        await page.keyboard.press("Escape")
        await press("1", "p-2")
        await press("n", "p-3")
        await press("p", "p-2")
        await press("2", "p-3")
        await press("4", "p-4")
        await press("5", "p-5")
        # Back to p-1: its expected answer is there to edit.
        for expected in ("p-4", "p-3", "p-2", "p-1"):
            await press("p", expected)
        assert await page.input_value("#expected") == "Marseille."
        await page.keyboard.press("e")
        await page.keyboard.press("ControlOrMeta+a")
        await page.keyboard.type("Paris, France.")
        await page.keyboard.press("Escape")
        await press("1", "p-2")
        await page.goto(base + "/q/worst")
        labeled = await page.locator("#items .done").all_inner_texts()
        # The labels in the report, as the report command builds it, opened in the same page.
        config = make_config(
            "http://127.0.0.1:9", recording={"redis_url": redis_url, "campaign": campaign}
        )
        built = await report_campaign(config, campaign, "html")
        assert built.text is not None
        report_file = tmp_path / "report.html"
        report_file.write_text(built.text, encoding="utf-8")
        await page.goto(report_file.as_uri())
        human_section = page.locator("section.human")
        assert await human_section.is_visible()
        human_text = await human_section.inner_text()
        await browser.close()
    verdicts = ["candidate_worse", "candidate_better", "same", "incumbent_wrong", "both_wrong"]
    assert labeled == verdicts
    human = built.report.human
    assert human is not None
    assert (human.labels, human.labeled_pairs) == (5, 5)
    assert human.verdicts == dict.fromkeys(sorted(verdicts), 1)
    assert human.reviewers == {f"ann-{campaign}": 5}
    assert (human.with_expected.n, human.with_expected.value) == (5, 0.2)  # p-1's answer
    assert "Human review" in human_text
    assert "5 on 5 pairs" in human_text
    assert f"ann-{campaign} 5" in human_text
    # The expected answer edited in the browser is the one the labeled export takes.
    await export_campaign(config, campaign, None, tmp_path / "golden", labeled=True)
    items = {item.id: item for item in load_version(tmp_path / "golden").items}
    assert sorted(items) == [f"p-{i}:{MIRROR}" for i in range(5)]
    edited = items[f"p-1:{MIRROR}"]
    assert edited.expected is not None
    assert (edited.expected.text, edited.label) == ("Paris, France.", "candidate_better")
    assert edited.provenance.reviewer == f"ann-{campaign}"
    assert all(items[f"p-{i}:{MIRROR}"].expected is None for i in (0, 2, 3, 4))
    entries = await stream_entries(redis_url, labels_key(campaign))
    assert len(entries) == 6  # every label given is kept; the edit is a new entry
    latest = {(x.pair_id, x.verdict, x.expected) for x in await load_labels(redis_client, campaign)}
    assert latest == {
        ("p-0", "candidate_worse", None),
        ("p-1", "candidate_better", "Paris, France."),
        ("p-2", "same", None),
        ("p-3", "incumbent_wrong", None),
        ("p-4", "both_wrong", None),
    }


async def test_hostile_model_output_renders_inert(
    redis_url: str, campaign: str, redis_client: aioredis.Redis, token: str
) -> None:
    from playwright.async_api import async_playwright

    chromium = _chromium()
    for i, payload in enumerate(XSS):
        pair = make_pair(f"x-{i}", campaign, question=payload, candidate=payload)
        await write_pair(redis_client, pair)
        await write_judgement(redis_client, campaign, f"x-{i}", "incumbent", payload)
        await write_feedback(redis_client, campaign, f"x-{i}")
    dialogs: list[str] = []
    errors: list[str] = []
    async with served(redis_url, campaign) as (base, _), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True)
        page = await browser.new_page()
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(base + "/login")
        await page.fill("#token", token)
        async with page.expect_navigation():
            await page.press("#token", "Enter")
        pages = ["/q/reported", *(f"/pair/x-{i}/{MIRROR}?q=reported" for i in range(len(XSS)))]
        for path in pages:
            await page.goto(base + path)
            await page.wait_for_load_state("load")
            scripts = await page.eval_on_selector_all("script", "s => s.map(e => e.nonce)")
            # No script but the page's own keyboard script (the one with the nonce).
            assert len(scripts) <= 1, path
            assert all(len(nonce) >= 16 for nonce in scripts), path
            hrefs = await page.eval_on_selector_all("[href]", "e => e.map(a => a.href)")
            assert not [h for h in hrefs if not h.startswith(("http:", "https:", "mailto:"))]
            for selector in ("img", "svg", "iframe", "[onerror]", "[onload]"):
                assert await page.locator(selector).count() == 0, (path, selector)
        # The payloads are there, as text a reviewer can read.
        await page.goto(base + f"/pair/x-0/{MIRROR}")
        assert "<script>alert('script')</script>" in await page.inner_text("#side-candidate")
        await browser.close()
    assert dialogs == []
    assert errors == []  # nothing even tried to run and was stopped by the CSP
