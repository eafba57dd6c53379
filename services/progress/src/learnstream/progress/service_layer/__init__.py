"""The progress service's use cases: load, change, save."""
