"""Provisioning: the devices of both campuses and what runs on them.

It will hold the device registry, enrollment of kiosks, boards and gateways, their broker
credentials and ACLs, release bundles and the update agent (``pacs-provision``). In this
release it holds only ``launcher`` (the umbrella ``pacs`` command); ``pacs-provision`` says
so and exits with status 2.

Imports only ``shared`` and the standard library (an import-linter contract checks it).
"""
