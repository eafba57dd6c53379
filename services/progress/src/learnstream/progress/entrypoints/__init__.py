"""How requests and events reach the progress service."""
