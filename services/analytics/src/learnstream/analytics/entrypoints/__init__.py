"""How requests and events reach the analytics service."""
