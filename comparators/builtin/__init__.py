"""The built-in comparators: one plug-in per module, each scoring one aspect of a pair
(text, JSON fields, tool calls, outcome, latency, cost, embeddings).

They are listed by hand in :data:`comparators.registry.BUILTINS`; third-party
comparators arrive through the ``darklaunch.comparators`` entry-point group instead.
"""
