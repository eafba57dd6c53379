"""The progress service's domain model: aggregates and rules, free of I/O."""
