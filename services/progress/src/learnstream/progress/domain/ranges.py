"""Stretches of a video as sorted, disjoint half-open intervals of whole seconds.

A learner's coverage of a video is the union of what they watched; a new report
only adds the part not covered yet, so watching the same minute twice (or a client
resending a report) never inflates it.
"""

from __future__ import annotations

from collections.abc import Iterable

Range = tuple[int, int]
Ranges = tuple[Range, ...]


def union(ranges: Iterable[Range]) -> Ranges:
    """The ranges merged into sorted, disjoint ones; touching ranges become one."""
    merged: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)


def subtract(ranges: Iterable[Range], covered: Ranges) -> Ranges:
    """The parts of ``ranges`` that ``covered`` (already a union) does not cover."""
    result: list[Range] = []
    for start, end in union(ranges):
        cursor = start
        for c_start, c_end in covered:
            if c_end <= cursor:
                continue
            if c_start >= end:
                break
            if c_start > cursor:
                result.append((cursor, c_start))
            cursor = max(cursor, c_end)
            if cursor >= end:
                break
        if cursor < end:
            result.append((cursor, end))
    return tuple(result)


def length(ranges: Ranges) -> int:
    """Seconds covered by a union."""
    return sum(end - start for start, end in ranges)


def clip(ranges: Iterable[Range], duration: int) -> Ranges:
    """The ranges cut to ``[0, duration)``."""
    return union((max(0, start), min(duration, end)) for start, end in ranges)
