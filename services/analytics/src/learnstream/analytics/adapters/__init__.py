"""The analytics service's adapters to the outside world (databases, other services)."""
