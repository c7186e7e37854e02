"""Signage board logic: plain state machines, no Kivy and no MQTT client (see STYLE.md)."""
