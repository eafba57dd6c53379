"""The analytics service: ClickHouse projections of every event; instructor, creator, admin
and learner analytics.
"""
