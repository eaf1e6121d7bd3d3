"""The suite's pytest items: one per state-machine focus, one per recorded real-AWS case."""
