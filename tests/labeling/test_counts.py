"""LiveCounts: background counts with the session's own changes on top."""

from __future__ import annotations

from tui_label.core.types import Counts, ImageState
from tui_label.labeling.counts import LiveCounts, shift

NEW = ImageState()
SKIP = ImageState.of("skip")


def cat() -> ImageState:
    return ImageState.of("label", 1)


def test_a_change_moves_one_image_between_the_counts():
    live = LiveCounts(Counts(total=3), through=5)
    live.change(NEW, cat(), event_id=6)
    assert (live.counts.labeled, live.counts.per_class) == (1, {1: 1})
    live.change(cat(), SKIP, event_id=7)
    assert (live.counts.labeled, live.counts.skipped, live.counts.per_class) == (0, 1, {})
    assert live.counts.remaining == 2


def test_own_changes_after_a_background_read_are_added_on_top():
    live = LiveCounts(Counts(total=3), through=5)
    live.change(NEW, cat(), event_id=6)
    live.change(NEW, SKIP, event_id=8)
    read = Counts(total=3, labeled=1, per_class={1: 1})  # read through 6: our first change only
    assert live.take(read, through=6)
    assert (live.counts.labeled, live.counts.skipped) == (1, 1)  # event 8 added on top
    assert read.skipped == 0 and read.per_class == {1: 1}  # the caller's counts stay as read
    assert live.through == 6


def test_counts_older_than_the_last_taken_are_dropped():
    live = LiveCounts()
    assert live.take(Counts(total=4, labeled=2, per_class={1: 2}), through=10)
    assert not live.take(Counts(total=4), through=9)
    assert live.counts.labeled == 2 and live.through == 10


def test_a_change_already_in_a_read_is_not_counted_twice():
    live = LiveCounts(Counts(total=2), through=1)
    live.change(NEW, cat(), event_id=2)
    assert live.take(Counts(total=2, labeled=1, per_class={1: 1}), through=2)
    assert live.take(Counts(total=2, labeled=1, per_class={1: 1}), through=3)
    assert live.counts.labeled == 1


def test_reset_takes_counts_as_they_are():
    live = LiveCounts()
    counts = Counts(total=7, labeled=1, per_class={2: 1})
    live.reset(counts, through=4)
    assert live.counts is counts and live.through == 4


def test_shift_handles_multi_label_sets():
    counts = Counts(total=1)
    shift(counts, NEW, ImageState("label", frozenset({1, 2})))
    assert counts.labeled == 1 and counts.per_class == {1: 1, 2: 1}
    shift(counts, ImageState("label", frozenset({1, 2})), ImageState("label", frozenset({2})))
    assert counts.labeled == 1 and counts.per_class == {2: 1}
