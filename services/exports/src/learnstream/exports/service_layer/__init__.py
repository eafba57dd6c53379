"""The exports service's use cases: load, change, save."""
