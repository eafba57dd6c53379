"""The exports service's adapters to the outside world (databases, other services)."""
