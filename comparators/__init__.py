"""darklaunch analysis plane: everything that reads recorded pairs.

It may import the data plane's contracts (the record schema and Redis keys in
:mod:`proxy.recording`, the config in :mod:`proxy.config`, the rollout's state and store in
:mod:`proxy.rollout`); the data plane never imports from here. Rooms::

    base, registry, engine   the comparator protocol, its plug-ins found, one pair scored
    builtin/                 the built-in comparators, one per module
    semantic/                meaning: embeddings, fact tokens, refusals, sentence coverage
    pricing/                 the price table and per-query budgets
    worker, service, metrics the consumer-group worker that scores the pairs stream
    scores                   score records
    columns/                 score records as numpy columns, segments, "did it change"
    gate/                    statistics, the policy, the verdict and its rendering
    report/                  the campaign report: model, table, HTML, charts, worst pairs
    campaign, commands       reading a campaign back; the report, gate and export commands
    export, where            golden-set export and its filter language
    pair_view                a pair flattened to text (export, the report's worst pairs)
    rollout/                 the staged rollout's controller: each step's window, guards, acts
"""
