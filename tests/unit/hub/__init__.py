"""Unit tests of hub logic that needs no database or server."""
