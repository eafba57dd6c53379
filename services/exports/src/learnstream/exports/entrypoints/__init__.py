"""How requests and events reach the exports service."""
