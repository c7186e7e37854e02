"""The campus queue engine's pure core: value objects, numbering, ordering, actions.

Nothing here touches a database, the broker or the network, and nothing reads the clock:
callers pass ``now`` (from an injected clock) into every action. See
:mod:`edge_gateway.queue.actions` for the state machine.
"""
