"""What the darklaunch distribution ships beside its code, and what it leaves to extras.

files    the starter config, the default gate policy, the default price table, the
         Grafana dashboard, the Prometheus alert rules and scrape config: package data
         under ``data/``, found through :mod:`importlib.resources` wherever the wheel is
         installed (never relative to the working directory). ``config/`` in the source
         tree holds symlinks to them, so each file has one source of truth.
extras   the optional ``[analysis]`` extra, and the one-line hint a command prints when
         it needs the extra and the extra is not installed.
"""
