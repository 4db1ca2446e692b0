"""Simulated model servers and the demo, shipped because ``darklaunch demo`` needs them.

``server`` is an OpenAI-compatible aiohttp app that behaves as its
:class:`~proxy.sim.profile.SimProfile` says; ``wire`` spells its answers in the OpenAI wire
format, plain or streamed, and ``text`` words them (prose, refusals, tool arguments, JSON).
``demo`` wires an incumbent and a candidate simulator, the proxy and the comparators into one
campaign, with ``prompts`` as its traffic. Nothing else in :mod:`proxy` imports from here:
the simulator stands in for upstreams and shares no code with the proxy it is measured
against.
"""
