"""``pacs-hub demo``: the hub on embedded defaults, seeded, registering demo patients."""
