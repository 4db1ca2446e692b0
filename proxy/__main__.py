"""``python -m proxy`` is the ``darklaunch`` command."""

from proxy.cli import main

main()
