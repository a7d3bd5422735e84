"""The trainer on the decode cache: a streamed run (larger than ``IN_MEMORY_BYTES``) trains
exactly as an in-memory one, and the cache is reused across runs."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
import torch

from tests.helpers.training import make_db, opts_for, parse_events
from tui_label.media.decode_cache import cache_dir
from tui_label.runs.emit import Emitter, human
from tui_label.runs.events import parse
from tui_label.trainer import data as tdata
from tui_label.trainer import run as trainer


def run(opts) -> list[dict]:
    emitter = Emitter("json", stream=io.StringIO())
    code = trainer.train(opts, emitter)
    events = parse_events(emitter.stream.getvalue())
    assert code == 0, events
    return events


def losses(events: list[dict]) -> list[float]:
    return [e[k] for e in events if e["event"] == "epoch" for k in ("train_loss", "val_loss")]


def test_a_streamed_run_trains_exactly_as_an_in_memory_one(tmp_path: Path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=8)
    in_memory = run(opts_for(root, db, epochs=2))
    streamed_batches: list[int] = []
    real = tdata.CachedImages.host

    def spy(self, key):
        batch = real(self, key)
        streamed_batches.append(len(batch))
        return batch

    monkeypatch.setattr(tdata, "IN_MEMORY_BYTES", 0)  # every set is "larger than memory"
    monkeypatch.setattr(tdata.CachedImages, "host", spy)  # every read from the cache
    streamed = run(opts_for(root, db, epochs=2))
    assert len(streamed_batches) > 4  # training, validation and prediction batches streamed
    assert losses(streamed) == pytest.approx(losses(in_memory), rel=1e-5)
    assert [e["accuracy"] for e in streamed if e["event"] == "epoch"] == \
        [e["accuracy"] for e in in_memory if e["event"] == "epoch"]


def test_a_second_run_reads_every_image_from_the_cache_and_says_so(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=4)
    images = len(list(root.rglob("*.png")))
    first = next(e for e in run(opts_for(root, db, epochs=1)) if e["event"] == "started")
    assert first["decoded"] == first["num_train"] + first["num_val"] == images
    second = next(e for e in run(opts_for(root, db, epochs=1)) if e["event"] == "started")
    assert second["decoded"] == 0
    line = human(parse(second))
    assert "images ready in" in line and "all from the decode cache" in line
    changed = sorted(root.rglob("*.png"))[0]
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = next(e for e in run(opts_for(root, db, epochs=1)) if e["event"] == "started")
    assert third["decoded"] == 1
    assert human(parse(third)).endswith("(1 decoded)")


def human_lines(opts) -> list[str]:
    """A run's readable output, as ``tui-label train`` prints it to a file or a pipe."""
    out = io.StringIO()
    assert trainer.train(opts, Emitter("human", stream=out)) == 0, out.getvalue()
    return out.getvalue().splitlines()


def said(lines: list[str]) -> tuple[int, int, str]:
    """What the pass lines say: (images decoded, images from the cache), and the run's line."""
    decoded = cached = 0
    for line in lines:
        if re.match(r"(preparing|decoding) images", line):
            assert "decoding" not in line, line  # the pass does not know it decoded
            decoded += int(m.group(1)) if (m := re.search(r"(\d+) decoded", line)) else 0
            cached += int(m.group(1)) if (m := re.search(r"(\d+) from the decode cache",
                                                         line)) else 0
    return decoded, cached, next(line for line in lines if line.startswith("run "))


def test_a_runs_lines_agree_on_where_its_images_came_from(tmp_path: Path):
    """Issue 17.9: a second run printed "decoding images 8/8", then "all from the decode
    cache". Each pass now says what happened, and the run's line agrees with the passes."""
    root, db, _ = make_db(tmp_path, per_class=4)
    images = len(list(root.rglob("*.png")))
    decoded, cached, started = said(human_lines(opts_for(root, db, epochs=1)))
    assert (decoded, cached) == (images, 0) and started.endswith(f"({images} decoded)")
    decoded, cached, started = said(human_lines(opts_for(root, db, epochs=1)))
    assert (decoded, cached) == (0, images) and started.endswith("(all from the decode cache)")


def test_the_cache_lives_beside_the_database_per_size(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=4)
    run(opts_for(root, db, epochs=1, image_size=16))
    run(opts_for(root, db, epochs=1, image_size=24))
    sizes = sorted(p.name for p in cache_dir(db).iterdir())
    assert sizes == ["16px", "24px"]
    record = 24 * 24 * 3
    images = len(list(root.rglob("*.png")))
    assert (cache_dir(db) / "24px" / "pixels.u8").stat().st_size == images * record


def test_cached_images_index_like_a_tensor(tmp_path: Path):
    from tui_label.media.decode_cache import DecodeCache

    root, db, _ = make_db(tmp_path, per_class=3)
    paths = sorted(root.rglob("*.png"))
    items = [(k + 1, p) for k, p in enumerate(paths)]
    with DecodeCache.open(db, 8) as cache:
        images, kept = tdata.from_cache(cache, items)
        assert kept == list(range(len(items))) and images.shape == (len(items), 3, 8, 8)
        whole = images[slice(None)]
        assert whole.dtype == torch.uint8 and whole.shape == (len(items), 3, 8, 8)
        assert torch.equal(images[torch.tensor([2, 0])], whole[[2, 0]])
        assert torch.equal(tdata.subset(images, torch.tensor([1, 2]))[[1]], whole[[2]])
        joined = tdata.concat([images.subset([0]), images.subset([1, 2])])
        assert torch.equal(joined[slice(None)], whole[:3])


def cached_set(tmp_path: Path, n_per_class: int = 4, size: int = 8):
    from tui_label.media.decode_cache import DecodeCache

    root, db, _ = make_db(tmp_path, per_class=n_per_class)
    paths = sorted(root.rglob("*.png"))
    cache = DecodeCache.open(db, size)
    images, _ = tdata.from_cache(cache, [(k + 1, p) for k, p in enumerate(paths)])
    return cache, images


def test_prefetched_batches_are_the_batches_in_order(tmp_path: Path):
    cache, images = cached_set(tmp_path)
    try:
        whole = images[slice(None)]
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(1))
        wanted = tdata.batches(order, 5)
        for depth in (0, 1, 2, 4):
            got = list(tdata.prefetched(images, wanted, depth=depth))
            assert [idx.tolist() for idx, _ in got] == [idx.tolist() for idx in wanted]
            for idx, batch in got:
                assert torch.equal(batch, whole[idx])
        # A set in memory is indexed as it is.
        got = list(tdata.prefetched(whole, wanted))
        assert all(torch.equal(batch, whole[idx]) for idx, batch in got)
    finally:
        cache.close()


def test_the_next_batches_are_read_while_the_current_one_is_used(tmp_path: Path, monkeypatch):
    import threading

    cache, images = cached_set(tmp_path)
    started = [threading.Event() for _ in range(4)]
    real = tdata.CachedImages.host

    def host(self, key):
        started[int(key[0]) // 3].set()
        return real(self, key)

    monkeypatch.setattr(tdata.CachedImages, "host", host)
    try:
        stream = tdata.prefetched(images, tdata.batches(torch.arange(12), 3), depth=2)
        next(stream)  # batch 0 in hand, nothing else asked for yet
        # Batches 1 and 2 are being read ahead (a read in turn would start only on next()).
        assert started[1].wait(10) and started[2].wait(10)
        assert not started[3].is_set()  # no more than two ahead
        stream.close()  # a stop: the reads in flight end, the thread goes
        assert not any(t.name.startswith("prefetch") for t in threading.enumerate())
    finally:
        cache.close()


def test_closing_a_stream_early_cancels_the_reads_not_begun(tmp_path: Path, monkeypatch):
    import threading

    cache, images = cached_set(tmp_path)
    started = [threading.Event() for _ in range(4)]
    release = threading.Event()
    real = tdata.CachedImages.host

    def host(self, key):
        k = int(key[0]) // 3
        started[k].set()
        if k == 1:
            release.wait(30)  # batch 1 is read slowly: 2 and 3 queue behind it
        return real(self, key)

    monkeypatch.setattr(tdata.CachedImages, "host", host)
    try:
        stream = tdata.prefetched(images, tdata.batches(torch.arange(12), 3), depth=3)
        next(stream)
        assert started[1].wait(10)
        threading.Timer(0.2, release.set).start()  # the read in hand ends; close waits for it
        stream.close()
        assert not started[2].is_set() and not started[3].is_set()  # cancelled, never read
    finally:
        release.set()
        cache.close()
