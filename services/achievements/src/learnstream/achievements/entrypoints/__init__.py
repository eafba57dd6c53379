"""How requests and events reach the achievements service."""
