"""Simulated model servers and the demo, shipped because ``darklaunch demo`` needs them.

``server`` is an OpenAI-compatible aiohttp app that behaves as its
:class:`~proxy.sim.profile.SimProfile` says; ``wire`` spells its answers in the OpenAI wire
format, plain or streamed, and ``text`` decides what they say and words them: a question of the
content bank (``answers``) gets that item's facts, JSON document or tool call in the profile's
style, right or wrong as its rates say, so the gate's semantic check has meaning to judge; any
other prompt gets phrase-bank prose. ``demo`` wires an incumbent and a candidate simulator, the
proxy and the comparators into one campaign, with ``prompts`` (bank questions) as its traffic.
Nothing else in :mod:`proxy` imports from here: the simulator stands in for upstreams and shares
no code with the proxy it is measured against.
"""
