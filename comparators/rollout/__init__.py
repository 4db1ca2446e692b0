"""The staged rollout's controller: the analysis plane judges each step of the ramp that the
data plane serves (:mod:`proxy.rollout`).

- :mod:`comparators.rollout.window`: the score records of the current step, read cheaply;
- :mod:`comparators.rollout.guards`: the gate on that window, turned into advance, hold or
  roll back (pure, so the CLI's ``status`` shows exactly what the controller would do);
- :mod:`comparators.rollout.controller`: the loop that holds the lock and acts on the verdict.
"""
