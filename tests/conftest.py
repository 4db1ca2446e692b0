"""Shared fixtures: real servers on 127.0.0.1 with port 0, built per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from proxy.config import Config, parse_config
from proxy.recorder import MemoryRecorder
from proxy.server import RunningProxy, running_proxy

ProxyFactory = Callable[..., AbstractAsyncContextManager[RunningProxy]]


def make_config(
    incumbent_url: str, candidates: list[dict[str, Any]] | None = None, **sections: Any
) -> Config:
    """A config on ephemeral ports; ``sections`` are merged over the defaults."""
    data: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "admin": {"host": "127.0.0.1", "port": 0},
        "incumbent": {"url": incumbent_url},
        "candidates": candidates or [],
        "mirror": {"sample_rate": 1.0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data)


@pytest.fixture
def proxy_factory() -> ProxyFactory:
    @asynccontextmanager
    async def factory(
        incumbent_url: str,
        candidates: list[dict[str, Any]] | None = None,
        recorder: Any = None,
        **sections: Any,
    ) -> AsyncIterator[RunningProxy]:
        config = make_config(incumbent_url, candidates, **sections)
        async with running_proxy(config, recorder=recorder or MemoryRecorder()) as proxy:
            yield proxy

    return factory


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve_handler(handler: Handler) -> AsyncIterator[str]:
    """A one-off upstream for byte-level cases the simulator does not model."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
