"""The chat service: Persistent AI course-assistant conversations: history, titles, search
and streamed replies.
"""
