"""File fingerprints: the same bytes give the same digest, a resized or recompressed copy a
difference hash a few bits away, another picture one far away."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.helpers.images import noise
from tests.helpers.photos import portrait
from tui_label.media.fingerprint import dhash, fingerprint, fingerprints


def bits(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def test_copies_resizes_and_recompressions_hash_close_and_other_pictures_far(tmp_path: Path):
    original = portrait(480, 320, seed=1)
    original.save(tmp_path / "a.png")
    (tmp_path / "copy.png").write_bytes((tmp_path / "a.png").read_bytes())
    original.resize((240, 160)).save(tmp_path / "small.jpg", quality=70)
    portrait(480, 320, seed=1).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        tmp_path / "mirror.png")
    noise((480, 320), seed=3).save(tmp_path / "other.png")
    a, copy, small, mirror, other = (
        fingerprint(i, tmp_path / name) for i, name in
        enumerate(["a.png", "copy.png", "small.jpg", "mirror.png", "other.png"]))
    assert a.digest == copy.digest and a.dhash == copy.dhash
    assert small.digest != a.digest and bits(a.dhash, small.dhash) <= 4
    assert bits(a.dhash, mirror.dhash) > 10 and bits(a.dhash, other.dhash) > 10


def test_an_unreadable_file_says_why_and_a_missing_one_too(tmp_path: Path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    bad = fingerprint(1, tmp_path / "bad.jpg")
    assert bad.digest is not None and bad.dhash is None and "not an image" in bad.error
    gone = fingerprint(2, tmp_path / "gone.jpg")
    assert (gone.digest, gone.dhash) == (None, None) and gone.error


def test_the_hash_reads_pixels_not_bytes():
    image = portrait(90, 80, seed=2)
    assert dhash(image) == dhash(image.convert("RGBA")) == dhash(image.convert("L"))
    assert 0 <= dhash(image) < 2**64


def test_many_files_keep_their_order_and_report_progress(tmp_path: Path):
    items = []
    for i in range(12):
        noise((40, 30), seed=i).save(tmp_path / f"{i}.png")
        items.append((100 + i, tmp_path / f"{i}.png"))
    seen = []
    out = fingerprints(items, workers=3, progress=lambda done, total: seen.append((done, total)))
    assert [p.image_id for p in out] == [i for i, _ in items]
    assert seen[-1] == (12, 12) and len(seen) == 12
    assert out == [fingerprint(i, path) for i, path in items]
