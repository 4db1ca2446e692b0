"""Where a connection is in its life: :class:`ConnectionState` for a client's on the public
listener, :class:`UpstreamState` for one to an upstream.

One value instead of a handful of flags (reading a request or not, which deadline applies,
refused or not, gone or not). :class:`proxy.http.protocol.HttpProtocol` and
:class:`proxy.http.upstream_connection.UpstreamConnection` make every transition, in the
callback where it happens; the server's deadline sweep (:class:`proxy.http.server.HttpServer`)
expires only the :data:`TIMED` states.
"""

from __future__ import annotations

import enum

__all__ = ["TIMED", "ConnectionState", "UpstreamState"]


class ConnectionState(enum.Enum):
    """Where a connection is in its life, as its reading side sees it. Answering runs beside
    reading (a pipelined request may arrive while an earlier one is answered), so "a handler
    is running" is not a state of its own: it is the connection's exchange task.

    The transitions, and the deadline that applies after each (:data:`TIMED` states only)::

        (accepted)        -> IDLE       keepalive_timeout_s
        IDLE, ANSWERING   -> HEAD       a request's first byte: header_timeout_s
        HEAD              -> BODY       its head is complete: body_timeout_s
        BODY              -> ANSWERING  it is complete and queued: none
        ANSWERING         -> IDLE       every request read has been answered: keepalive_timeout_s
        IDLE              -> CLOSING    the keep-alive deadline passed
        IDLE, HEAD, BODY,
        ANSWERING         -> CLOSING    a request refused (400, 405, 408, 413, 414, 431: the
                                        answer is sent now, or once earlier requests are
                                        answered), or an upgrade asked for
        any               -> CLOSED     the transport is gone
    """

    IDLE = "idle"  # between requests, nothing to answer
    HEAD = "head"  # a request's head is arriving
    BODY = "body"  # its body is arriving (and, after a chunked one, any trailer fields)
    ANSWERING = "answering"  # nothing being read; the requests read are answered, in order
    CLOSING = "closing"  # no more requests: input is ignored, the connection ends
    CLOSED = "closed"  # the transport is gone


class UpstreamState(enum.Enum):
    """Where a connection to an upstream is in its life. It carries one exchange at a time,
    and is reused only from IDLE: any doubt about its framing closes it. ::

        (connected)       -> IDLE
        IDLE              -> WAITING   a request is written; its answer's head is awaited
        WAITING           -> BODY      the head arrived (interim 1xx heads do not count)
        BODY              -> IDLE      the body ended and the upstream keeps the connection:
                                       back to the pool
        any               -> CLOSED    the upstream closed it; bytes nobody asked for, an
                                       answer that does not parse or breaks a limit, a
                                       deadline, a caller that gave up, a HEAD answered
    """

    IDLE = "idle"
    WAITING = "waiting"
    BODY = "body"
    CLOSED = "closed"


# The members as module globals: the hot path reads a global, not a class attribute.
IDLE = ConnectionState.IDLE
HEAD = ConnectionState.HEAD
BODY = ConnectionState.BODY
ANSWERING = ConnectionState.ANSWERING
CLOSING = ConnectionState.CLOSING
CLOSED = ConnectionState.CLOSED
# The states with a deadline (``HttpProtocol.deadline``).
TIMED = (IDLE, HEAD, BODY)
