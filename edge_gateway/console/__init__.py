"""The technician console served by the edge gateway (sign-in, room page, actions)."""
