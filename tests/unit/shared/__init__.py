"""Unit tests of the shared package (contracts every part speaks)."""
