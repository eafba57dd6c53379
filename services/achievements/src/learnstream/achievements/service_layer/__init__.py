"""The achievements service's use cases: load, change, save."""
