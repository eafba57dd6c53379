"""The analytics service's use cases: load, change, save."""
