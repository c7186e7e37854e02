"""Contracts every part of Campus PACS speaks: MQTT topics and payloads, settings,
name masking and DICOM helpers. Imports nothing from the other parts."""
