"""Realistic paired records for calibrating the release gate.

:func:`generate` turns a :class:`Scenario` and a seed into pair records
(:class:`~proxy.recording.schema.PairRecord`) whose answers read like a model's: the wording
differs on every side and every call, while the content is right, defensibly different,
subtly wrong (one fact) or grossly wrong as the :class:`CandidateBehaviour` says.
:func:`generate_with_truth` also returns a :class:`Truth` per pair, the ground truth a
calibration scores the gate against.

``loadtests.synthetic`` is the simpler generator that drives the simulated server's own wire
code; this one is about *content*: paraphrases that must pass and errors that must not.
"""

from loadtests.realistic.generate import Truth, generate, generate_with_truth
from loadtests.realistic.scenario import DEFAULT_MIX, CandidateBehaviour, Scenario

__all__ = [
    "DEFAULT_MIX",
    "CandidateBehaviour",
    "Scenario",
    "Truth",
    "generate",
    "generate_with_truth",
]
