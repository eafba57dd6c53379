"""The achievements service: XP, levels, streaks, achievements and leaderboards, awarded
exactly once from events.
"""
