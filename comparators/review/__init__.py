"""Human review: reviewers' labels on pairs, the web app they give them in, and what the report,
the gate and the golden set make of them.

- :mod:`comparators.review.label`: a label, and reading and writing the labels stream (the
  contract every other part of review reads);
- :mod:`comparators.review.tokens`: reviewers' tokens (only their hashes are stored) and the
  app's sessions;
- :mod:`comparators.review.queues`: which pairs a reviewer is shown (worst, audit, reported);
- :mod:`comparators.review.render`: model output rendered inert (safe markdown, JSON, tools);
- :mod:`comparators.review.app`: the aiohttp app ``darklaunch review`` serves;
- :mod:`comparators.review.agreement`: how far reviewers agree with each other and with the
  LLM judge (Cohen's kappa), read by the report and the gate.
"""
