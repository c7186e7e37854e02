"""The edge's local store: archive files, the SQLite index, the worklist and the outbox."""
