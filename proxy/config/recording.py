"""Where paired records go and what they keep. Both planes read this section: the data plane
writes the streams it names, the analysis plane reads them back (and segments them by the tags
it names)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from proxy.config.base import NAME_PATTERN, SECRET_HEADER_WORDS, ConfigPath, Section

__all__ = [
    "CLUSTER_SCHEMES",
    "REDIS_URL_FORMS",
    "TAG_NAME",
    "BuiltinPattern",
    "ClusterURL",
    "RecordingConfig",
    "RedactConfig",
    "TagsConfig",
    "check_redis_url",
    "parse_cluster_url",
]

BuiltinPattern = Literal["email", "phone", "card", "api_key", "bearer"]
_ALL_BUILTINS: tuple[BuiltinPattern, ...] = ("email", "phone", "card", "api_key", "bearer")


class RedactConfig(Section):
    """What is masked before a record leaves the process.

    ``redact: {patterns: {employee_id: "EMP-[0-9]{6}"}, drop_paths: [metadata.user_email]}``
    """

    enabled: bool = True
    """Mask records at all; `false` records headers, bodies and answers verbatim."""
    builtins: list[BuiltinPattern] = Field(default_factory=lambda: list(_ALL_BUILTINS))
    """Built-in patterns to mask; each match becomes `[REDACTED:<name>]`."""
    patterns: dict[str, str] = Field(default_factory=dict)
    """Your own patterns, name -> Python regular expression, masked like the built-ins."""
    drop_paths: list[str] = Field(default_factory=list)
    """JSON paths removed from the recorded request body, e.g. `messages[*].name`."""

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"valid regular expressions; {name!r} fails: {exc}") from exc
        return value


TAG_NAME = re.compile(r"[a-z0-9_.\-]{1,32}")
"""A tag name, configured or sent by a client (``fullmatch``): short and plain, because the
report and the gate print it and select segments by it."""
_TAG_NAME_RULE = "1 to 32 of a-z, 0-9, '_', '.', '-'"
# An HTTP field name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z\-]+")


def _check_header_source(value: str) -> str:
    """A tag's header, lowercased; never one that carries a credential, since its value would
    be written into every record."""
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError("an HTTP header name such as x-tenant-id")
    lowered = value.lower()
    for word in SECRET_HEADER_WORDS:
        if word in lowered:
            raise ValueError(
                f"a header that carries no credential; a name containing {word!r} does, and a "
                "tag's value is written into every record"
            )
    return lowered


def _check_json_field(value: str) -> str:
    if not value or any(not part for part in value.split(".")):
        raise ValueError("a dotted path of object keys such as metadata.feature")
    return value


HeaderSource = Annotated[str, AfterValidator(_check_header_source)]
JsonFieldSource = Annotated[str, AfterValidator(_check_json_field)]


class TagsConfig(Section):
    """Segment tags recorded with every pair (`request.tags`), so the report and the gate can
    judge each tenant, feature or other segment on its own. Clients may add tags of their own
    with `x-darklaunch-tags: key=value,...`, but never one named here: these are the operator's.
    Values are masked like the rest of the record (`redact`); a field `redact.drop_paths`
    removes cannot be a tag; a value that is not 1-64 printable ASCII characters without `,`
    or `=` makes no tag (see docs/records.md).

    ``tags: {headers: {tenant: x-tenant-id}, json_fields: {feature: metadata.feature}}``
    """

    headers: dict[str, HeaderSource] = Field(default_factory=dict)
    """Tag name -> request header whose value becomes the tag; credential headers (names with
    authorization, api-key, apikey, cookie, token or secret) are refused."""
    json_fields: dict[str, JsonFieldSource] = Field(default_factory=dict)
    """Tag name -> dotted path into the JSON request body; a string, number or boolean there
    becomes the tag, anything else none."""

    @field_validator("headers", "json_fields")
    @classmethod
    def _check_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not TAG_NAME.fullmatch(name):
                raise ValueError(f"tag names of {_TAG_NAME_RULE}; {name!r} is not one")
        return value

    @model_validator(mode="after")
    def _one_source_per_tag(self) -> Self:
        both = sorted(set(self.headers) & set(self.json_fields))
        if both:
            raise ValueError(
                f"each tag name under headers or json_fields, not both; {both[0]!r} is in both"
            )
        return self


# A Redis Cluster URL's scheme -> the scheme of one of its nodes (TLS or not).
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
REDIS_URL_FORMS = (
    "a redis://, rediss:// or unix:// URL, or redis+cluster://host:port[,host:port...] "
    "(rediss+cluster:// for TLS)"
)


@dataclass(frozen=True)
class ClusterURL:
    """A ``redis+cluster://`` URL taken apart: the nodes to discover the cluster from, and
    the URL of the first one (credentials, TLS and query options included), which redis-py's
    own URL parser reads the connection options from."""

    nodes: tuple[tuple[str, int], ...]
    node_url: str


def _cluster_node(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6 address]:port``; the port defaults to 6379, as redis:// does."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            host, port = text, ""
    if not host or not (port == "" or (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"host:port for every node; {text!r} is not one")
    return host, int(port or 6379)


def parse_cluster_url(url: str) -> ClusterURL:
    """Take a ``redis+cluster://`` or ``rediss+cluster://`` URL apart; a ValueError says what
    was expected (the caller names the key and the value)."""
    scheme, sep, rest = url.partition("://")
    node_scheme = CLUSTER_SCHEMES.get(scheme.lower())
    if node_scheme is None or not sep:
        raise ValueError(REDIS_URL_FORMS)
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    credentials, at, hosts = netloc.rpartition("@")
    path, _, query = tail.partition("?")
    if path not in ("", "/", "/0"):
        raise ValueError(
            f"a cluster URL without a database or with /0 (a cluster has only database 0); "
            f"got the path {path!r}"
        )
    if not hosts:
        raise ValueError("redis+cluster://host:port[,host:port...] with at least one node")
    nodes = tuple(_cluster_node(node) for node in hosts.split(","))
    first_host, first_port = nodes[0]
    host = f"[{first_host}]" if ":" in first_host else first_host
    node_url = f"{node_scheme}://{credentials}{at}{host}:{first_port}/0"
    return ClusterURL(nodes, node_url + (f"?{query}" if query else ""))


def check_redis_url(value: str) -> str:
    """``value`` if it is a Redis URL darklaunch can open, else a ValueError saying what was
    expected."""
    scheme = urlsplit(value).scheme if "://" in value else ""
    if scheme.lower() in CLUSTER_SCHEMES:
        parse_cluster_url(value)
    elif scheme not in ("redis", "rediss", "unix"):
        raise ValueError(REDIS_URL_FORMS)
    return value


class RecordingConfig(Section):
    """Where paired records go and what they keep.

    ``recording: {campaign: gpt5-vs-mini}`` records to an embedded Redis under ``data_dir``;
    ``recording: {redis_url: "redis://redis:6379/0", campaign: gpt5-vs-mini}`` to a real one;
    ``recording: {redis_url: "redis+cluster://10.0.0.1:6379,10.0.0.2:6379"}`` to a Redis Cluster.
    """

    redis_url: str | None = None
    """Redis to record to; unset starts an embedded Redis under `data_dir`.
    `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster://` for TLS)
    is a Redis Cluster, discovered from the nodes listed (one is enough); a campaign's keys
    share one hash slot, so one campaign lives on one node (and its replica)."""
    campaign: str = Field(default="default", pattern=NAME_PATTERN)
    """Names the streams `darklaunch:{<campaign>}:pairs` and `:scores`."""
    shards: int = Field(default=1, ge=1, le=1024)
    """Streams one campaign's pairs are spread over, by a hash of the pair id:
    `darklaunch:{<campaign>:<k>}:pairs` for k from 0, each in its own Redis Cluster slot, so
    one campaign can use several masters. 1 keeps the names `darklaunch:{<campaign>}:pairs`.
    Raising it later is safe (readers read every shard and the unsharded stream)."""
    max_len: int = Field(default=1_000_000, ge=1)
    """Approximate cap on the pairs kept, in records (`XADD MAXLEN ~`), split evenly over the
    shards. Memory: about 3.1 KB of Redis per realistic pair, plus about 2.6 KB per score
    entry (scores streams keep 1,000,000 entries each), so the default holds about 5.7 GB
    (docs/SCALE.md); at 1,000 mirrored rps it is also only 17 minutes of pairs."""
    retention_h: float | None = Field(default=None, gt=0)
    """Age limit on the campaign's pairs, scores and judgements streams, in hours
    (`XTRIM MINID`, by when each entry was written, at most once a minute per proxy process
    while it writes); unset keeps records until `max_len` pushes them out."""
    data_dir: ConfigPath = Path(".darklaunch/redis")
    """Folder where the embedded Redis keeps its data and socket (unused with `redis_url`)."""
    spool_dir: ConfigPath = Path(".darklaunch/spool")
    """Folder where records wait on disk while Redis is away, replayed in order after."""
    spool_max_bytes: int = Field(default=1 << 30, gt=0)
    """Spool size cap, in bytes; beyond it records are dropped (reason spool_full)."""
    queue_size: int = Field(default=10_000, ge=1)
    """Records queued in memory for the writer at most; beyond it they are dropped
    (reason queue_full)."""
    batch_size: int = Field(default=256, ge=1)
    """Records per Redis write, at most."""
    flush_timeout_s: float = Field(default=30.0, gt=0)
    """Seconds shutdown waits to flush records to Redis; what is left stays in the spool."""
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    """Request bodies longer than this many bytes (as JSON) are recorded cut, as a string."""
    max_output_bytes: int = Field(default=1024 * 1024, gt=0)
    """Bytes of each side's answer kept for the record; a longer one is recorded truncated."""
    stream_usage: Literal["off", "inject"] = "off"
    """`inject` asks the incumbent for stream usage and hides it from clients that did not."""
    redact: RedactConfig = Field(default_factory=RedactConfig)
    """What is masked or dropped before a record leaves the process."""
    tags: TagsConfig = Field(default_factory=TagsConfig)
    """Segment tags recorded with every pair, read from request headers or the JSON body."""

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        return None if value is None else check_redis_url(value)

    @model_validator(mode="after")
    def _tags_read_no_dropped_path(self) -> Self:
        """A path the operator drops from recorded bodies holds what must not be recorded; a
        tag read from it would record it anyway."""
        for name, field in self.tags.json_fields.items():
            parts = field.split(".")
            for dropped in self.redact.drop_paths:
                prefix = [part for part in re.split(r"\.|\[|\]", dropped) if part]
                if parts[: len(prefix)] == prefix:
                    raise ValueError(
                        f"tags.json_fields outside redact.drop_paths; tag {name!r} reads "
                        f"{field!r}, which drop path {dropped!r} keeps out of records"
                    )
        return self
