"""Data shipped with the hub (the default procedure catalogue)."""
