"""The campaign report: ``build`` computes it from score records into the ``model``, which
``table`` (terminal), ``html`` (with ``charts``, ``style`` and the ``worst`` pairs) render.
Every number in it comes with its interval from :mod:`comparators.gate.stats`.
"""
