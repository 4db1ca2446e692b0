"""darklaunch data plane: everything on the request path.

Forwarding to the incumbent, sampling and mirroring to candidates, stream assembly,
recording, metrics, the embedded Redis, the simulated model servers and the CLI.
"""

__version__ = "0.1.0"
