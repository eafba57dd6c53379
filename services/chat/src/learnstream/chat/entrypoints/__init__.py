"""How requests and events reach the chat service."""
