"""Turn an upstream's buffered response bytes into an :class:`~proxy.recording.schema.Output`.

Comparators must never see raw bytes: a streamed answer and its non-streamed twin have to look
alike once recorded, or every streamed pair would diff on framing alone. Upstreams also break in
every way a byte stream can break, so assembly never raises. Whatever could not be read makes
the output ``partial`` and keeps what could be salvaged, because a half answer is still evidence
and an exception here would lose the whole pair.

- :mod:`proxy.recording.assembly.dispatch`: the entry point; picks the wire format by route and
  content type, and assembles embeddings and any other JSON itself;
- :mod:`proxy.recording.assembly.chat`: Chat Completions and legacy Completions, streamed or not;
- :mod:`proxy.recording.assembly.responses`: the Responses API, events or a whole object;
- :mod:`proxy.recording.assembly.messages`: Anthropic's Messages API, events or a whole Message;
- :mod:`proxy.recording.assembly.choice`: one choice accumulated from fragments (shared);
- :mod:`proxy.recording.assembly.common`: the output's plain data and lenient JSON readers.

Conventions worth knowing when reading a record:

* ``usage`` is the last non-null usage object an upstream reported, unmodified. Summing would
  double-count on gateways that repeat usage on the final content chunk.
* A stream is complete only when its end marker arrived (``data: [DONE]`` for chat and
  completions, ``response.completed`` for Responses, ``message_stop`` for Messages). Nothing
  after ``[DONE]`` or ``message_stop`` is read, as the SDKs read nothing after them either.
* A stream that carried an error keeps it as ``body = {"error": <the upstream's error object>}``,
  the same shape as a non-streamed error body, so comparators look in one place.
"""
