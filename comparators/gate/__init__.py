"""The release gate and the statistics it stands on.

``estimate`` (the estimate-with-interval vocabulary) and ``stats`` (the computations) are the
floor; ``policy`` reads a gate policy file, ``verdict`` judges a campaign's scores against it
into a ``result``, and ``render`` shows that result as a table or JSON. The report imports the
statistics from here too, so an interval means the same thing in both.
"""
