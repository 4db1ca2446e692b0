"""The staged rollout's data plane: its state and the store all parties share
(:mod:`~proxy.rollout.state`, :mod:`~proxy.rollout.store`), the cohort decision, the follower
that keeps each proxy's copy of the state current, and the serving of cohort requests by the
candidate with the incumbent as fallback and reverse shadow. The controller that judges steps
is the analysis plane's (:mod:`comparators.rollout`)."""
