"""The single customer view (and, later, its real-time state)."""
