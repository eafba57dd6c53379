"""Watched stretches of a video: merging, what is new, cutting to the video, seconds covered."""

from __future__ import annotations

import pytest

from learnstream.progress.domain import ranges


@pytest.mark.parametrize(
    ("given", "merged"),
    [
        pytest.param([], (), id="nothing"),
        pytest.param([(200, 300), (0, 100)], ((0, 100), (200, 300)), id="sorted"),
        pytest.param([(0, 100), (50, 150)], ((0, 150),), id="overlapping"),
        pytest.param([(0, 10), (10, 20)], ((0, 20),), id="touching become one"),
        pytest.param([(0, 100), (20, 30)], ((0, 100),), id="contained"),
        pytest.param([(0, 100), (0, 100)], ((0, 100),), id="repeated"),
        pytest.param([(5, 5), (9, 3), (0, 1)], ((0, 1),), id="empty and inverted dropped"),
        pytest.param([(30, 40), (0, 10), (5, 35)], ((0, 40),), id="chain"),
    ],
)
def test_union_merges_into_sorted_disjoint_ranges(given: list[ranges.Range], merged: ranges.Ranges) -> None:
    assert ranges.union(given) == merged


@pytest.mark.parametrize(
    ("new", "covered", "left"),
    [
        pytest.param([(0, 100)], (), ((0, 100),), id="nothing covered"),
        pytest.param([], ((0, 100),), (), id="nothing new"),
        pytest.param([(10, 90)], ((0, 100),), (), id="all covered"),
        pytest.param([(50, 150)], ((0, 100),), ((100, 150),), id="tail"),
        pytest.param([(0, 100)], ((50, 150),), ((0, 50),), id="head"),
        pytest.param([(0, 100)], ((20, 30), (60, 70)), ((0, 20), (30, 60), (70, 100)), id="holes"),
        pytest.param([(0, 10), (90, 100)], ((10, 90),), ((0, 10), (90, 100)), id="around"),
        pytest.param([(0, 10)], ((10, 20),), ((0, 10),), id="touching"),
        pytest.param([(0, 50), (40, 100)], ((200, 300),), ((0, 100),), id="merged first"),
    ],
)
def test_subtract_leaves_only_what_is_not_covered_yet(
    new: list[ranges.Range], covered: ranges.Ranges, left: ranges.Ranges
) -> None:
    assert ranges.subtract(new, covered) == left


@pytest.mark.parametrize(
    ("given", "duration", "clipped"),
    [
        pytest.param([(0, 100)], 600, ((0, 100),), id="inside"),
        pytest.param([(-5, 10)], 600, ((0, 10),), id="before the start"),
        pytest.param([(590, 602)], 600, ((590, 600),), id="past the end"),
        pytest.param([(600, 610), (700, 800)], 600, (), id="wholly past the end"),
        pytest.param([(0, 10)], 0, (), id="no video"),
        pytest.param([(50, 150), (0, 100)], 120, ((0, 120),), id="merged"),
    ],
)
def test_clip_cuts_ranges_to_the_video(
    given: list[ranges.Range], duration: int, clipped: ranges.Ranges
) -> None:
    assert ranges.clip(given, duration) == clipped


def test_length_counts_the_seconds_of_a_union() -> None:
    assert ranges.length(()) == 0
    assert ranges.length(((0, 100), (200, 250))) == 150


def test_watching_the_same_minute_twice_covers_it_once() -> None:
    watched = ranges.union([(0, 60)])

    new = ranges.subtract([(0, 60)], watched)

    assert new == ()
    assert ranges.length(ranges.union(watched + new)) == 60
