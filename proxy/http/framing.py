"""The rules a request's head must meet before its body is read, apart from the connection
that reads it (:class:`proxy.http.protocol.HttpProtocol`), as functions of the parsed head.

llhttp has already refused what is not HTTP/1.1 (bad framing, CL+TE, duplicate lengths,
disguised ``Transfer-Encoding``). What it accepts, these refuse too, each for a reason in
``docs/RELIABILITY.md``'s table of rules, with an error in OpenAI's shape
(:class:`Refusal`):

- ``CONNECT`` (405): this is no forward proxy;
- a target that does not parse, or whose path has a ``.`` or ``..`` segment however it is
  spelled (400, :func:`dot_segment`): it would climb out of the upstream's base path;
- a ``Content-Length`` over ``listen.max_body_bytes`` (413, before the body is read);
- ``Transfer-Encoding`` in an HTTP/1.0 request (400: faulty framing, RFC 9112 §6.1), and
  any coding but ``chunked`` alone (501, as RFC 9112 §6.1 asks: relayed de-chunked, a
  ``gzip, chunked`` body would reach the upstream still compressed, with nothing to say so);
- more than one ``Host`` field (400, RFC 9112 §3.2);
- the asterisk target of ``OPTIONS *`` (400): it means the server, not a path, and under a
  base path it would become one.

What they leave is a :class:`BodyFraming`: how the body is framed, and whether the client
waits for ``100 Continue``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol
from urllib.parse import unquote

import httptools

__all__ = ["BodyFraming", "Refusal", "UpgradeBody", "body_framing", "dot_segment", "origin_form"]

_DOT_SEGMENTS = frozenset({".", ".."})


class Refusal(Exception):
    """A request refused before any handler sees it: the status and error code of the answer,
    and ``str()`` its message, which names what was sent and what is expected."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BodyFraming(NamedTuple):
    """How a request's body is framed, from its head (a tuple: one is built per request)."""

    length: int  # its Content-Length, or -1 without one
    chunked: bool
    expects_continue: bool  # ``Expect: 100-continue``

    @property
    def has_body(self) -> bool:
        return self.chunked or self.length > 0

    def as_head(self) -> bytes:
        """A made-up head with this framing and nothing else, for a parser that is to read
        the body alone (:class:`UpgradeBody`)."""
        if self.chunked:
            return b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        return b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % max(self.length, 0)


def body_framing(
    method: bytes, headers: Iterable[tuple[str, str]], version: str, max_body_bytes: int
) -> BodyFraming:
    """The framing of a request whose head llhttp accepted; raises :class:`Refusal` for a
    ``CONNECT``, a version other than HTTP/1.x, a length over ``max_body_bytes``, and chunking
    in HTTP/1.0."""
    if method == b"CONNECT":
        raise Refusal(405, "CONNECT is not supported: this is not a forward proxy", "bad_method")
    if not version.startswith("1."):
        # llhttp reads HTTP/0.9 and HTTP/2.0 request lines too. Neither is HTTP/1.x framing
        # (0.9 has no head, 2.0 is binary after its preface), and forwarding one as HTTP/1.1
        # would relay a request its client never framed as such. RFC 9110 §15.6.6: 505.
        raise Refusal(
            505,
            f"HTTP/{version} is not supported: this listener speaks HTTP/1.0 and HTTP/1.1",
            "http_version_not_supported",
        )
    length = -1
    chunked = expects_continue = False
    hosts = 0
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-length" and value.isdigit():
            length = int(value)
            if length > max_body_bytes:
                raise Refusal(
                    413,
                    f"request body of {value} bytes is over the limit of {max_body_bytes} "
                    "bytes (listen.max_body_bytes)",
                    "request_too_large",
                )
        elif lowered == "transfer-encoding":
            if chunked or value.strip().lower() != "chunked":
                raise Refusal(
                    501,
                    f"Transfer-Encoding {value!r} is not supported: only 'chunked' is",
                    "unsupported_transfer_encoding",
                )
            chunked = True
        elif lowered == "expect" and value.lower() == "100-continue":
            expects_continue = True
        elif lowered == "host":
            hosts += 1
    if hosts > 1:
        raise Refusal(
            400, f"the request has {hosts} Host fields: one is allowed", "invalid_http_request"
        )
    if chunked and version != "1.1":
        # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing (an
        # HTTP/1.0 hop on the way may have relayed it without understanding it), so where
        # the body ends, and the next request starts, cannot be trusted. nginx: 400.
        raise Refusal(
            400,
            f"Transfer-Encoding is not allowed in an HTTP/{version} request",
            "invalid_http_request",
        )
    return BodyFraming(length, chunked, expects_continue)


def origin_form(url: bytes) -> str:
    """The request target as the upstream will get it after the base path: an absolute
    target loses its scheme and authority (the host comes from the config only). Raises
    :class:`Refusal` for a target that does not parse, and for a path with a dot segment."""
    target = url.decode("latin-1")
    if target == "*":
        raise Refusal(
            400,
            "the target '*' (server-wide OPTIONS) is not forwarded: send a path",
            "invalid_request_path",
        )
    if not target.startswith("/"):
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            raise Refusal(
                400, f"malformed request target {target!r}", "invalid_http_request"
            ) from None
        path_only = (parsed.path or b"/").decode("latin-1")
        query = parsed.query
        target = path_only + ("?" + query.decode("latin-1") if query else "")
    if dot_segment(target.partition("?")[0]):
        raise Refusal(
            400,
            "the request path has a '.' or '..' segment (maybe percent-encoded): "
            "darklaunch does not forward paths that could leave the upstream's base path",
            "invalid_request_path",
        )
    return target


def dot_segment(path: str) -> bool:
    """Whether ``path`` (as sent, without its query) has a ``.`` or ``..`` segment as some
    upstream might read it: percent-decoded once (``%2e``, and ``%2f`` making a slash), with
    a backslash taken for a slash (WHATWG URL parsers, so Node, do that) and a ``;`` parameter
    cut off (Java servlet containers read ``..;`` as ``..``).

    Why: the upstream gets the configured base path plus this path verbatim, so a dot segment
    would resolve above the base path, on a request carrying the incumbent's configured
    credentials. Such a path is refused, not resolved: no OpenAI API path has one (nginx
    resolves those that stay under the root and answers 400 to the others)."""
    if "." not in path and "%" not in path:  # the common case: no decoding at all
        return False
    decoded = unquote(path, encoding="latin-1").replace("\\", "/")
    return any(segment.partition(";")[0] in _DOT_SEGMENTS for segment in decoded.split("/"))


class BodyReader(Protocol):
    """The callbacks of a connection that take a request's body and trailer fields."""

    def on_body(self, body: bytes) -> None: ...

    def on_chunk_header(self) -> None: ...

    def on_chunk_complete(self) -> None: ...

    def on_header(self, name: bytes, value: bytes) -> None: ...

    def on_message_complete(self) -> None: ...


class UpgradeBody:
    """The callbacks of a parser that reads only the body of a request that asked for an
    upgrade. llhttp hands over at the end of such a request's head, taking what follows for
    the new protocol, so ``curl --http2``'s POST (``Upgrade: h2c``) lost its body. A second
    parser, fed :meth:`BodyFraming.as_head` and then the bytes after the head, reads it with
    every limit of a body; its made-up head reaches none of the connection's callbacks but
    ``on_header`` (counted and dropped as a trailer field would be)."""

    __slots__ = (
        "on_body",
        "on_chunk_complete",
        "on_chunk_header",
        "on_header",
        "on_message_complete",
    )

    def __init__(self, conn: BodyReader) -> None:
        self.on_body: Callable[[bytes], None] = conn.on_body
        self.on_chunk_header: Callable[[], None] = conn.on_chunk_header
        self.on_chunk_complete: Callable[[], None] = conn.on_chunk_complete
        self.on_header: Callable[[bytes, bytes], None] = conn.on_header
        self.on_message_complete: Callable[[], None] = conn.on_message_complete
