"""Shadow mirroring: decide, start and bound the candidate calls of a sampled request.

A mirror never touches the client's path. :meth:`~proxy.mirroring.mirror.Mirror.begin` runs
synchronously on the request path and costs a route lookup and a sampling decision for
unsampled requests; for sampled ones it parses the body once, builds each candidate's request
and spawns one background task per pair. That task runs the candidate calls, waits for the
incumbent's outcome and hands the finished pair to the recorder.

- :mod:`proxy.mirroring.mirror`: the dispatcher, from the sampling decision to the finished pair;
- :mod:`proxy.mirroring.target`: one candidate, with its pool, bounds, breaker and metrics;
- :mod:`proxy.mirroring.request`: the body and headers a candidate is sent;
- :mod:`proxy.mirroring.crossapi` and :mod:`proxy.mirroring.translate`: a candidate that speaks
  another API (``candidates[].api``): its route and the translated body;
- :mod:`proxy.mirroring.pair`: a sampled request in flight, completed by the incumbent.

Every mirror that does not happen is counted in ``darklaunch_mirror_skipped_total`` with one
of these reasons: ``paused``, ``body_not_json_object``, ``breaker_open``, ``max_inflight``,
``untranslatable`` (and then in ``darklaunch_mirror_untranslatable_total`` by the translator's
reason).
Every mirror that fails is counted in ``darklaunch_candidate_errors_total`` by error kind.
"""
