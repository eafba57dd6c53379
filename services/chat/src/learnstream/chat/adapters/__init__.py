"""The chat service's adapters to the outside world (databases, other services)."""
