"""The gateway service's use cases: load, change, save."""
