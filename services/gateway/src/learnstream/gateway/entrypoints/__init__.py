"""How requests and events reach the gateway service."""
