"""The chat service's use cases: load, change, save."""
