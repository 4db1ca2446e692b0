"""darklaunch's HTTP/1.1 layer: the only place that speaks bytes. It stands on nothing else of
darklaunch (no config, record or metrics), and each module holds one concept.

The public listener (clients come in)::

    server      HttpServer: listens, tracks connections, sweeps deadlines, shuts down
    protocol    HttpProtocol: one connection, parsed with httptools
    framing     the rules a request's head must meet, and how its body is framed
    cycle       Request, Handler, exchange(): one request and its answer
    writer      ResponseWriter: the answer, framed, with flow control; send_error

The upstream client (darklaunch calls out)::

    upstream_pool         UpstreamPool: keep-alive connections to one origin
    upstream_connection   UpstreamConnection: one connection, parsed with httptools
    upstream_response     UpstreamResponse: one answer, its body streamed
    upstream_errors       what a call raises, and classify_failure() for reporting it

Shared by both::

    headers     hop-by-hop hygiene and the framing of relayed answers
    state       ConnectionState and UpstreamState: where a connection is in its life
    errors      darklaunch's own error bodies, in OpenAI's shape
"""
