"""The Learnstream gateway: the public HTTP API for web and mobile clients.

Accounts and access tokens; every other route is answered by the context that owns the
data (progress, chat, achievements, analytics, exports), asked as the caller. Dashboards
are composed from several contexts in parallel, and a context that is down leaves its
section `null` and named in `unavailable`. Errors are RFC 9457 problem+json; limits:
300 requests per minute per user (tracking 1,200), 30 logins or registrations per
minute per address, bodies up to 1 MiB. Live updates: `GET /api/stream`.
"""
