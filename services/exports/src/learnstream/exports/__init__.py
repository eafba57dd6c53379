"""The exports service: CSV, JSON, XLSX and PDF reports of courses and of an instructor's
students, produced as background jobs from analytics' data (asked as the requester), kept
behind signed, expiring download links and recorded in an audit log; certificates of
completion anyone can verify; a weekly digest mailed to every instructor.
"""
