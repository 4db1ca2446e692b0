"""Golden sets: frozen, versioned sets of requests with what is known about their answers, fed
by production (``darklaunch export``) and by people (``darklaunch golden import``), and read
back by ``darklaunch replay``. The format, ``darklaunch-golden-set/2``, is documented field by
field in ``docs/golden.md``. Rooms::

    errors     the exception tree the command line translates at its boundary
    model      an item, a manifest, their canonical bytes, the derived id and request kind
    legacy     reading format /1 exports (pairs.jsonl) as format-2 items
    store      versions on disk: list, latest, next, load (hash-checked), verify, write
    importer   JSONL or CSV prompts read into items
    diff       what changed between two versions, item by item
    stats      one version summarised: segments, answers, provenance, hash
    cli        the ``darklaunch golden`` typer sub-app: import, diff, stats, verify

What ``darklaunch replay`` calls::

    load_version(root, version=None) -> GoldenVersion(path, manifest, items)
    load_items(root, version=None) -> list[GoldenItem]
    list_versions(root) -> list[str]; latest_version(root) -> str | None
"""
