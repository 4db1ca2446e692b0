"""darklaunch data plane: everything on the request path, and the contracts the analysis
plane reads.

Rooms, from the ground floor up (imports only ever point down; ``tests/test_layering.py``
holds the house to it)::

    http/         the HTTP/1.1 server and upstream client: the only place that speaks bytes
    config/       the config of both planes, validated once (analysis plane: config/analysis)
    recording/    the pair record's schema, Redis keys, assembly, redaction, the Redis writer
    mirroring/    sampling decisions to finished pairs: candidate calls, bounded and shed
    forward, fallback, pairing, upstreams, sampling, breaker, tasks, metrics, logs
                  the client's path and what it needs
    app, server, supervisor, admin
                  wiring one process, serving it, N workers, the admin API
    cli           the ``darklaunch`` command (with ``sim.demo``, the only modules that reach
                  into :mod:`comparators`, lazily); ``terminal``: its exit codes and errors
    sim/          simulated model servers and the demo
    shipped/      package data (starter config, gate policy, prices, dashboard, alerts)
                  and the optional ``[analysis]`` extra's check
"""

__version__ = "0.1.0"
