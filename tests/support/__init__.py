"""Helpers for tests: real tools and services, free ports, waiting on sockets."""
