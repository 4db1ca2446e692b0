"""The ``darklaunch`` command line, one module per group of commands, all on one
:data:`~proxy.cli.app.app`:

- :mod:`proxy.cli.app`: the application, its shared options and helpers, and :func:`main`;
- :mod:`proxy.cli.serve`: ``serve`` and ``compare``;
- :mod:`proxy.cli.analysis`: ``report``, ``gate``, ``campaigns``, ``export``;
- :mod:`proxy.cli.setup`: ``config-reference``, ``check-config``, ``init``;
- :mod:`proxy.cli.lifecycle`: ``golden``, ``replay``, ``demo``;
- :mod:`proxy.cli.review`: ``review``, ``review-token``;
- :mod:`proxy.cli.rollout`: ``rollout`` (status, the manual actions, history, the controller).

These are the composition roots: the only modules of the data plane that reach into the
analysis plane, lazily, inside the command that needs it.
"""

from __future__ import annotations

# Each module registers its commands on import, in this order: the order of ``--help``.
# isort: off
from proxy.cli import serve
from proxy.cli import analysis
from proxy.cli import setup
from proxy.cli import lifecycle
from proxy.cli import review
from proxy.cli import rollout
from proxy.cli.app import app, main

# isort: on

__all__ = ["analysis", "app", "lifecycle", "main", "review", "rollout", "serve", "setup"]
