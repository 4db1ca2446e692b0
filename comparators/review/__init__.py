"""Human review: reviewers' labels on pairs, the web app they give them in, and what the report,
the gate and the golden set make of them.

- :mod:`comparators.review.label`: a label, and reading and writing the labels stream (the
  contract every other part of review reads).
"""
