"""The upstream pool (:mod:`proxy.http.upstream_pool`) against real servers on 127.0.0.1
(:mod:`tests.proxy.http.raw_upstream`): the request on the wire, keep-alive and its one retry,
connecting, the connection limit, housekeeping and TLS.

Every test runs twice: on asyncio's own loop and on uvloop, which production uses (its
transports are not ``asyncio.Transport`` subclasses, and it reads and times differently).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time

import pytest
import trustme

from proxy.http.upstream_connection import PROBE_AFTER_IDLE_S
from proxy.http.upstream_errors import ConnectFailed, Disconnected
from proxy.http.upstream_pool import client_ssl_context
from tests.proxy.http.raw_upstream import (
    Peer,
    RawServer,
    answer,
    echo,
    elapsed_since,
    eventually,
    fetch,
    head_then_silence,
    on_both_loops,
    open_pool,
    soon,
)

pytestmark = pytest.mark.timeout(20)


# The request on the wire.


@on_both_loops
async def test_request_line_host_headers_and_content_length() -> None:
    async with RawServer(echo) as server, open_pool(server.url + "/base/") as pool:
        await fetch(pool, "/v1/chat?x=1", "POST", headers=[("X-B", "2"), ("X-A", "1")], body=b"{}")
        await fetch(pool, "/empty", "POST")
        await fetch(pool, "/get?q=a%20b", "GET", headers=[("X-A", "1"), ("X-A", "3")])
        await fetch(pool, "/item", "DELETE")
    host = ("Host", f"127.0.0.1:{server.port}")
    post, empty_post, get, delete = server.requests
    assert (post.method, post.target, post.body) == ("POST", "/base/v1/chat?x=1", b"{}")
    assert post.headers == [host, ("X-B", "2"), ("X-A", "1"), ("Content-Length", "2")]
    assert empty_post.headers == [host, ("Content-Length", "0")]
    assert (get.target, get.headers) == ("/base/get?q=a%20b", [host, ("X-A", "1"), ("X-A", "3")])
    assert (delete.method, delete.headers) == ("DELETE", [host])


@on_both_loops
async def test_line_breaks_in_a_header_or_path_are_refused_before_sending() -> None:
    cases: list[tuple[str, list[tuple[str, str]]]] = [
        ("/", [("X-Evil", "a\r\nX-Injected: 1")]),
        ("/", [("X-Evil", "a\nb")]),
        ("/", [("X-Ev\ril", "a")]),
        ("/x HTTP/1.1\r\nX-Injected: 1\r\n", []),
    ]
    async with RawServer(echo) as server, open_pool(server.url) as pool:
        for path, headers in cases:
            with pytest.raises(ValueError, match="line break"):
                await pool.request("GET", path, headers, b"", deadline=soon(1))
        assert pool.size == 0
    assert server.accepted == 0


# Keep-alive.


@on_both_loops
async def test_sequential_requests_share_one_connection() -> None:
    async with RawServer(echo) as server, open_pool(server.url) as pool:
        bodies = [(await fetch(pool, f"/{n}"))[1] for n in range(3)]
        assert pool.size == 1
    assert bodies == [b"GET /0", b"GET /1", b"GET /2"]
    assert server.accepted == 1


@on_both_loops
async def test_connection_close_and_http_1_0_answers_are_not_reused() -> None:
    answers = [
        answer("200 OK", ["Connection: close"], b"ok"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ]

    async def handler(peer: Peer) -> None:  # keeps the connection open: the client must close it
        while await peer.next_request() is not None:
            peer.send(answers[peer.index - 1] if peer.index <= len(answers) else answer("200 OK"))

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        for n in range(len(answers)):
            response, body = await fetch(pool)
            assert (response.status, body) == (200, b"ok")
            await server.hangups(n + 1)
        await fetch(pool)
    assert server.accepted == 3


@on_both_loops
async def test_pooled_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", body=b"once"))  # then the handler returns: the server closes

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        await fetch(pool)
        await eventually(lambda: pool.size == 0)  # the client saw the close while idle
        _, body = await fetch(pool)
    assert body == b"once"
    assert server.accepted == 2
    assert len(server.requests) == 2  # nothing was sent on the closed connection


@on_both_loops
async def test_request_racing_an_idle_close_is_sent_again_once() -> None:
    async def handler(peer: Peer) -> None:
        if peer.index == 1:
            await peer.next_request()
            peer.send(answer("200 OK", body=b"first"))
        await peer.next_request()
        # ... and close without answering, as an upstream does when its idle timer fired
        # just as the request arrived.

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        assert (await fetch(pool, "/1"))[1] == b"first"
        with pytest.raises(Disconnected):  # the fresh connection also closed: no second retry
            await fetch(pool, "/2")
        assert pool.size == 0
    assert server.accepted == 2
    assert [request.target for request in server.requests] == ["/1", "/2", "/2"]


@on_both_loops
async def test_request_racing_an_idle_close_succeeds_on_a_new_connection() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        if peer.index == 1:
            peer.send(answer("200 OK", body=b"first"))
            await peer.next_request()  # and close it without answering
        else:
            peer.send(answer("200 OK", body=b"retried"))
            await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        assert (await fetch(pool))[1] == b"first"
        assert (await fetch(pool))[1] == b"retried"
    assert server.accepted == 2
    assert len(server.requests) == 3  # the second request went out twice


@on_both_loops
async def test_a_post_racing_an_idle_close_is_never_sent_twice() -> None:
    """RFC 9110 §9.2.2: a POST may have reached the upstream before the connection closed;
    sent again it would be a second bill and a second tool side effect. It fails instead."""

    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", body=b"first"))
        await peer.next_request()  # the POST arrives: the upstream closes without answering

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        assert (await fetch(pool, "/1"))[1] == b"first"
        with pytest.raises(Disconnected, match="closed a pooled connection"):
            await fetch(pool, "/2", "POST", body=b"{}")
    assert [(r.method, r.target) for r in server.requests] == [("GET", "/1"), ("POST", "/2")]
    assert server.accepted == 1


@on_both_loops
async def test_a_connection_closed_unseen_by_the_loop_is_not_reused() -> None:
    """The upstream closed an idle connection and the event loop has not yet read the close
    (it was busy): the socket is readable, so the pool opens a new connection for the POST
    instead of sending it on one that is gone. The upstream runs in a thread of its own, so
    that it closes while the loop is blocked."""
    close_first = threading.Event()
    received: list[bytes] = []

    def serve(listener: socket.socket) -> None:
        for index in (1, 2):
            connection, _ = listener.accept()
            with connection:
                request = connection.recv(65536)
                received.append(request.split(b"\r\n", 1)[0])
                connection.sendall(answer("200 OK", body=b"%d" % index))
                if index == 1:
                    close_first.wait(5)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        async with open_pool(url) as pool:
            assert (await fetch(pool, "/1"))[1] == b"1"
            close_first.set()
            # Blocks the loop, past the idle time after which a socket is checked: the close
            # arrives, unread.
            time.sleep(PROBE_AFTER_IDLE_S + 0.1)  # noqa: ASYNC251
            assert (await fetch(pool, "/2", "POST", body=b"{}"))[1] == b"2"
        thread.join(5)
    assert received == [b"GET /1 HTTP/1.1", b"POST /2 HTTP/1.1"]


@on_both_loops
async def test_the_upstreams_keep_alive_timeout_retires_an_idle_connection_early() -> None:
    """``Keep-Alive: timeout=1``: after 0.6 s idle (past the hint less its margin, 0.5 s, and
    well inside the pool's own 30 s) the connection is not reused."""

    async def handler(peer: Peer) -> None:
        while (request := await peer.next_request()) is not None:
            peer.send(answer("200 OK", ["Keep-Alive: timeout=1, max=100"], request.target.encode()))

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        await fetch(pool, "/1")
        await fetch(pool, "/2")  # at once: reused
        assert server.accepted == 1
        await asyncio.sleep(0.6)
        await fetch(pool, "/3", "POST")
    assert server.accepted == 2
    assert [r.target for r in server.requests] == ["/1", "/2", "/3"]


@on_both_loops
async def test_fresh_connection_closed_without_an_answer_is_disconnected() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        with pytest.raises(Disconnected, match="before answering"):
            await fetch(pool)
    assert server.accepted == 1


# Connecting.


@on_both_loops
async def test_connection_refused_is_connect_failed() -> None:
    with socket.socket() as bound_not_listening:  # holds the port, refuses connections
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        async with open_pool(f"http://127.0.0.1:{port}") as pool:
            with pytest.raises(ConnectFailed, match=f"cannot connect to 127.0.0.1:{port}"):
                await fetch(pool)
            assert pool.size == 0


@on_both_loops
async def test_tls_handshake_that_never_completes_is_a_timeout() -> None:
    async def silent(peer: Peer) -> None:  # plain TCP: it never answers the ClientHello
        await peer.wait_for_hangup()

    async with RawServer(silent) as server:
        url = server.url.replace("http://", "https://")
        insecure = client_ssl_context(False, None)
        for deadline_s, connect_timeout_s in [(0.15, 5.0), (5.0, 0.15)]:
            async with open_pool(
                url, connect_timeout_s=connect_timeout_s, ssl_context=insecure
            ) as pool:
                start = asyncio.get_running_loop().time()
                with pytest.raises(TimeoutError):
                    await fetch(pool, within=deadline_s)
                assert 0.13 <= elapsed_since(start) < 1.0
                assert pool.size == 0
        await server.hangups(2)


# The connection limit.


@on_both_loops
async def test_callers_beyond_the_limit_wait_for_a_connection() -> None:
    async def handler(peer: Peer) -> None:
        while (request := await peer.next_request()) is not None:
            await asyncio.sleep(0.05)
            peer.send(answer("200 OK", body=request.target.encode()))

    async with RawServer(handler) as server, open_pool(server.url, max_connections=2) as pool:
        results = await asyncio.gather(*(fetch(pool, f"/{n}") for n in range(5)))
        assert pool.size == 2
    assert [body for _, body in results] == [f"/{n}".encode() for n in range(5)]
    assert server.max_open == 2
    assert server.accepted == 2


@on_both_loops
async def test_a_closed_connection_frees_its_slot_for_a_waiter() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.next_request()
        assert request is not None
        await asyncio.sleep(0.02)
        peer.send(answer("200 OK", ["Connection: close"], request.target.encode()))

    async with RawServer(handler) as server, open_pool(server.url, max_connections=1) as pool:
        results = await asyncio.gather(*(fetch(pool, f"/{n}") for n in range(3)))
        assert pool.size == 0
    assert [body for _, body in results] == [b"/0", b"/1", b"/2"]
    assert server.max_open == 1
    assert server.accepted == 3


@on_both_loops
async def test_a_waiter_past_its_deadline_times_out_without_leaking_its_slot() -> None:
    async def handler(peer: Peer) -> None:
        while (request := await peer.next_request()) is not None:
            if request.target == "/slow":
                await asyncio.sleep(0.5)
            peer.send(answer("200 OK", body=request.target.encode()))

    async with RawServer(handler) as server, open_pool(server.url, max_connections=1) as pool:
        async with asyncio.TaskGroup() as group:
            slow = group.create_task(fetch(pool, "/slow"))
            await eventually(lambda: len(server.requests) == 1)
            start = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError):
                await fetch(pool, "/impatient", within=0.1)
            assert elapsed_since(start) < 0.4  # it did not wait for the slow answer
        assert slow.result()[1] == b"/slow"
        assert pool.size == 1
        assert (await fetch(pool, "/after"))[1] == b"/after"
        assert pool.size == 1
    assert [request.target for request in server.requests] == ["/slow", "/after"]
    assert server.accepted == 1


# The pool's own housekeeping.


@on_both_loops
async def test_idle_connections_are_closed_after_the_keepalive_timeout() -> None:
    async with RawServer(echo) as server, open_pool(server.url, keepalive_timeout_s=0.2) as pool:
        await fetch(pool)
        start = asyncio.get_running_loop().time()
        await server.hangups(1)
        assert 0.15 <= elapsed_since(start) < 1.0
        assert pool.size == 0
        assert (await fetch(pool, "/again"))[1] == b"GET /again"
    assert server.accepted == 2


@on_both_loops
async def test_closing_the_pool_closes_connections_and_fails_later_requests() -> None:
    async with (
        RawServer(head_then_silence) as server,
        open_pool(server.url, max_connections=1) as pool,
    ):

        async def wait_for_a_connection() -> None:
            with pytest.raises(ConnectFailed, match="closed"):
                await fetch(pool)

        async with await pool.request("GET", "/", (), b"", deadline=soon(2)) as streaming:
            async with asyncio.TaskGroup() as group:
                group.create_task(wait_for_a_connection())
                await asyncio.sleep(0.05)
                await pool.close()
            with pytest.raises(Disconnected):
                await streaming.read()
        await server.hangups(1)
        with pytest.raises(ConnectFailed, match="closed"):
            await fetch(pool)
        assert pool.size == 0
    assert server.accepted == 1  # nothing connected after the close


# TLS.


def _tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@on_both_loops
async def test_https_upstream_verified_with_a_ca_bundle() -> None:
    ca = trustme.CA()
    with ca.cert_pem.tempfile() as ca_path:
        verified = client_ssl_context(True, ca_path)
    async with (
        RawServer(echo, ssl_context=_tls_server_context(ca)) as server,
        open_pool(server.url, ssl_context=verified) as pool,
    ):
        bodies = [(await fetch(pool, f"/{n}"))[1] for n in range(2)]
    assert bodies == [b"GET /0", b"GET /1"]
    assert server.accepted == 1


@on_both_loops
async def test_https_upstream_without_verification() -> None:
    async with (
        RawServer(echo, ssl_context=_tls_server_context(trustme.CA())) as server,
        open_pool(server.url, ssl_context=client_ssl_context(False, None)) as pool,
    ):
        assert (await fetch(pool, "/x"))[1] == b"GET /x"


@on_both_loops
async def test_https_upstream_with_an_unknown_ca_is_connect_failed() -> None:
    async with (
        RawServer(echo, ssl_context=_tls_server_context(trustme.CA())) as server,
        open_pool(server.url, ssl_context=client_ssl_context(True, None)) as pool,
    ):
        with pytest.raises(ConnectFailed, match="certificate verify failed"):
            await fetch(pool)
        assert pool.size == 0
    assert server.requests == []
