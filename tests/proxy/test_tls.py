"""HTTPS upstreams: verified by default, with a custom CA bundle when one is configured."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
import trustme
from aiohttp import web

from tests.conftest import ProxyFactory


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_upstream(ca: trustme.CA) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"secure": request.secure})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(url + "/v1/models") as response:
        return response.status, orjson.loads(await response.read())


async def test_https_upstream_with_custom_ca_bundle(
    proxy_factory: ProxyFactory, tls_upstream: str, ca: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with proxy_factory(
        tls_upstream, incumbent={"url": tls_upstream, "ca_bundle": str(bundle)}
    ) as proxy:
        assert await _get(proxy.url) == (200, {"secure": True})


async def test_unknown_certificate_is_refused_by_default(
    proxy_factory: ProxyFactory, tls_upstream: str
) -> None:
    async with proxy_factory(tls_upstream) as proxy:
        status, body = await _get(proxy.url)
    assert status == 502
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == "upstream_unreachable"


async def test_verification_can_be_turned_off(
    proxy_factory: ProxyFactory, tls_upstream: str
) -> None:
    async with proxy_factory(
        tls_upstream, incumbent={"url": tls_upstream, "verify_tls": False}
    ) as proxy:
        assert await _get(proxy.url) == (200, {"secure": True})
