"""The gateway service: Identity and the public HTTP API: composes the contexts for web and
mobile clients.
"""
