"""A request body translated between OpenAI Chat Completions and Anthropic Messages, for a
candidate that speaks the other API than the client, or refused with a reason.

Pure functions of a parsed body; they never raise and never mutate their input.

- :mod:`~proxy.mirroring.translate.to_anthropic`: :func:`chat_to_messages`;
- :mod:`~proxy.mirroring.translate.to_openai`: :func:`messages_to_chat`;
- :mod:`~proxy.mirroring.translate.reasons`: :class:`Untranslatable` and :data:`REASONS`,
  the closed vocabulary a skipped mirror is counted by.

Only the request is translated: answers in either format are read by the recorder. A request
that cannot be carried faithfully is refused, never sent half-translated, because the pair
it made would compare the incumbent's answer with an answer to another question. The field
by field table is in ``docs/formats.md``.
"""

from __future__ import annotations

from proxy.mirroring.translate.reasons import REASONS, Reason, Untranslatable
from proxy.mirroring.translate.to_anthropic import CHAT_DROPPED, chat_to_messages
from proxy.mirroring.translate.to_openai import MESSAGES_DROPPED, OPENAI_MAX_STOP, messages_to_chat

__all__ = [
    "CHAT_DROPPED",
    "MESSAGES_DROPPED",
    "OPENAI_MAX_STOP",
    "REASONS",
    "Reason",
    "Untranslatable",
    "chat_to_messages",
    "messages_to_chat",
]
