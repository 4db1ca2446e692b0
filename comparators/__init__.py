"""darklaunch analysis plane: everything that reads recorded pairs.

Comparators, the consumer-group worker, statistics, report, gate and export. This package may
import the record schema from :mod:`proxy`; the data plane never imports from here.
"""
