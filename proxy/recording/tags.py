"""Segment tags: the labels (``tenant=acme``, ``feature=search``) a pair carries in
``request.tags``, so the report and the gate can judge each segment on its own.

Two sources, in this order:

1. the operator's ``recording.tags``: a request header's value, or a string, number or boolean
   at a dotted path in the JSON body, per configured tag name;
2. the client's ``x-darklaunch-tags: tenant=acme,feature=search``, which may add tags but never
   set a configured name, even one whose source this request lacks: a segment the operator
   defines must not mix in what clients claim about themselves.

The client's header is hostile input, parsed so that nothing in it can fail the request or
bloat a record: at most :data:`MAX_CLIENT_TAGS` tags, keys matching
:data:`~proxy.config.recording.TAG_NAME` after lowercasing, values of 1 to
:data:`MAX_VALUE_LENGTH` printable ASCII characters without ``,`` or ``=``. Anything else is
dropped and logged at debug level with its reason, never the dropped text. Every value, from
either source, goes through the record's redactor (a value it masks is kept masked, so
``[REDACTED:email]`` shows something was there); a client's key the redactor would mask is
dropped. Tags are built in the pair's background task, never on the client's path.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import orjson
from multidict import CIMultiDictProxy

from proxy.config.recording import TAG_NAME, TagsConfig
from proxy.recording.redact import Redactor

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_CLIENT_TAGS",
    "MAX_VALUE_LENGTH",
    "TAGS_HEADER",
    "ClientTags",
    "DropReason",
    "Tagger",
    "parse_tags_header",
    "valid_value",
]

TAGS_HEADER = "x-darklaunch-tags"
"""The client's own tags. Forwarded to the incumbent as sent, never to a candidate or replica."""
MAX_CLIENT_TAGS = 8
MAX_VALUE_LENGTH = 64


class DropReason:
    """Why a tag was not recorded: the closed vocabulary of the debug log line."""

    NO_EQUALS = "no_equals"  # an item without ``=``
    BAD_KEY = "bad_key"  # not 1-32 of a-z 0-9 _ . - (after lowercasing ASCII)
    BAD_VALUE = "bad_value"  # empty, too long, not printable ASCII, or holding ``=``
    DUPLICATE = "duplicate"  # a key already given earlier in the header (the first one wins)
    RESERVED = "reserved"  # a key the config names: only its configured source may set it
    TOO_MANY = "too_many"  # beyond MAX_CLIENT_TAGS accepted tags
    SECRET_KEY = "secret_key"  # a key the redactor would mask (a phone number, say)


def valid_value(value: str) -> bool:
    """1 to 64 printable ASCII characters, neither ``,`` nor ``=`` among them."""
    return (
        0 < len(value) <= MAX_VALUE_LENGTH
        and value.isascii()
        and value.isprintable()
        and "," not in value
        and "=" not in value
    )


def _identity(value: str) -> str:
    return value


class ClientTags(NamedTuple):
    tags: dict[str, str]
    dropped: list[str]
    """One :class:`DropReason` per item not kept, in header order."""


def parse_tags_header(
    raw: str,
    *,
    reserved: Collection[str] = (),
    redact: Callable[[str], str] = _identity,
) -> ClientTags:
    """The tags in an ``x-darklaunch-tags`` value (repeated header lines joined with ``,``).

    Empty items (``a=1,,b=2``, a trailing comma) are no tags and not counted as dropped.
    ``redact`` masks a value; a key it would change is dropped. Never raises.
    """
    tags: dict[str, str] = {}
    dropped: list[str] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if len(tags) >= MAX_CLIENT_TAGS:
            dropped.append(DropReason.TOO_MANY)
            continue
        key, equals, value = item.partition("=")
        if not equals:
            dropped.append(DropReason.NO_EQUALS)
            continue
        # ASCII is checked before lowercasing: "K" (the Kelvin sign) lowercases to "k".
        key = key.strip()
        key = key.lower() if key.isascii() else ""
        if not TAG_NAME.fullmatch(key):
            dropped.append(DropReason.BAD_KEY)
        elif key in tags:
            dropped.append(DropReason.DUPLICATE)
        elif key in reserved:
            dropped.append(DropReason.RESERVED)
        elif redact(key) != key:
            dropped.append(DropReason.SECRET_KEY)
        else:
            value = value.strip()
            masked = redact(value) if valid_value(value) else ""
            if valid_value(masked):  # masking can lengthen a value past the limit
                tags[key] = masked
            else:
                dropped.append(DropReason.BAD_VALUE)
    return ClientTags(tags, dropped)


def _leaf(body: Any, path: tuple[str, ...]) -> str | None:
    """The string, number or boolean at ``path`` as JSON spells it (``true``, ``1.5``), or
    ``None`` when the body has no such leaf there."""
    node = body
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    if isinstance(node, str):
        return node
    if isinstance(node, bool | int | float):
        return orjson.dumps(node).decode()
    return None


class Tagger:
    """Built once from the config; called per pair with the client's headers and parsed body."""

    def __init__(self, config: TagsConfig, redactor: Redactor) -> None:
        self._headers = tuple(config.headers.items())
        self._fields = tuple(
            (name, tuple(path.split("."))) for name, path in config.json_fields.items()
        )
        self._reserved = frozenset(config.headers) | frozenset(config.json_fields)
        self._redact = redactor.text

    def __call__(self, headers: CIMultiDictProxy[str], body: Any) -> dict[str, str]:
        tags: dict[str, str] = {}
        dropped: list[str] = []
        for name, header in self._headers:
            value = headers.get(header)
            if value is not None:
                self._add_configured(tags, name, value.strip(), dropped)
        for name, path in self._fields:
            leaf = _leaf(body, path)
            if leaf is not None:
                self._add_configured(tags, name, leaf, dropped)
        sent = headers.getall(TAGS_HEADER, None)
        if sent:
            client = parse_tags_header(",".join(sent), reserved=self._reserved, redact=self._redact)
            tags.update(client.tags)
            dropped.extend(client.dropped)
        if dropped and logger.isEnabledFor(logging.DEBUG):
            reasons = ", ".join(f"{r} x{n}" for r, n in sorted(Counter(dropped).items()))
            logger.debug("tags not recorded: %s", reasons)
        return tags

    def _add_configured(
        self, tags: dict[str, str], name: str, value: str, dropped: list[str]
    ) -> None:
        masked = self._redact(value) if valid_value(value) else ""
        if valid_value(masked):
            tags[name] = masked
        else:  # the name is the operator's, so it may be logged: it says which source to check
            dropped.append(f"{DropReason.BAD_VALUE} ({name})")
