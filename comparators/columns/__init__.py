"""Score records read as columns: ``frame`` (numpy columns of one group of score records, sliced
by masks, shared by the report and the gate), ``segments`` (the slices of traffic judged
apart: route, model, request kind, stream, user tags) and ``change`` (the per-pair "did the
answer change" verdict of ``quality: semantic``).
"""
