"""DecodeLog: what decoding found, kept until one write stores it; the prefetcher's log."""

from __future__ import annotations

import pytest

from tui_label.media.decode import Prefetcher
from tui_label.media.decode_log import DecodeLog, DecodeRow


def test_each_image_is_noted_once_and_flushed_in_one_write():
    log = DecodeLog()
    log.note(1, 32, 24, None)
    log.note(1, 1, 1, None)  # decoded again: already noted
    log.note(2, None, None, "not an image")
    writes: list[list[DecodeRow]] = []
    log.flush(writes.append)
    assert writes == [[(1, 32, 24, None), (2, None, None, "not an image")]]
    log.flush(writes.append)  # nothing pending: no write
    assert len(writes) == 1 and len(log) == 0
    log.note(1, 8, 8, None)
    assert len(log) == 0  # noted once per image


def test_a_failed_write_keeps_everything_for_the_next_try():
    log = DecodeLog()
    log.note(1, 32, 24, None)

    def broken(rows: list[DecodeRow]) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        log.flush(broken)
    assert len(log) == 1
    stored: list[list[DecodeRow]] = []
    log.flush(stored.append)
    assert stored == [[(1, 32, 24, None)]]


def test_a_forgotten_image_is_noted_again():
    log = DecodeLog()
    log.note(1, 32, 24, None)
    log.flush(lambda rows: None)
    log.forget([1])
    log.note(1, None, None, "now broken")
    assert len(log) == 1


def test_the_prefetcher_forgets_the_decode_of_a_changed_file():
    p = Prefetcher(workers=1)
    try:
        p.decodes.note(5, 32, 24, None)
        p.decodes.flush(lambda rows: None)
        p.forget(5)  # its file changed (a rescan)
        p.decodes.note(5, None, None, "now broken")
        assert len(p.decodes) == 1
    finally:
        p.close()
