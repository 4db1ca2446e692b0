"""``darklaunch replay``: a frozen golden set sent to the incumbent and the candidates, as the
live mirror would send it, recorded as ordinary pair records.

Replay is a traffic source for the data plane, not an analysis: it builds each call with the
mirror's own code (:func:`proxy.mirroring.crossapi.outgoing`: model rewrite, overrides,
headers, translation for a candidate of another API), calls through the same pools, and
builds each record with :class:`proxy.pairing.PairBuilder` (assembly, redaction). So
``compare``, ``report``, ``gate`` and ``export`` read a replayed campaign unchanged.

- :mod:`proxy.replay.work`: an item to replay, and the ids that make a replay resumable;
- :mod:`proxy.replay.retry`: when to ask again after a 429 or a 5xx, honouring Retry-After;
- :mod:`proxy.replay.throttle`: the request-rate limit;
- :mod:`proxy.replay.recorded`: production's recorded answer as the incumbent side;
- :mod:`proxy.replay.runner`: the replay itself.
"""
