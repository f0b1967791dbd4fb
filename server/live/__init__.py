"""Live rooms in memory: rooms and participants, the signalling messages, the hub, places."""
