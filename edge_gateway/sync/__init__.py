"""The edge's sync agent: hub orders down to the worklist, outbox events and images up.

``build_agent(settings)`` (``agent.py``) is the entry point; ``pacs-edge serve`` starts it
when ``--hub-url`` is given. The wire contract is ``shared.sync``.
"""
