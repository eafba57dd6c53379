"""The exports service: CSV, JSON, XLSX and PDF reports as background jobs with signed,
expiring links.
"""
