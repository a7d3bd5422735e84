"""Unit tests for tui_label.media.scan: which files a dataset walk finds, and how it says so."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tui_label.media.scan import ScannedFile, is_image_name, scan


def touch(path: Path, data: bytes = b"not really an image") -> Path:
    """Write a small fake file (scan never decodes), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def paths(root: Path) -> list[str]:
    return [f.path for f in scan(root)]


# --- is_image_name -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a.jpg", "a.jpeg", "a.png", "a.webp", "a.bmp", "a.gif", "a.tif", "a.tiff",
        "a.JPG", "a.Png", "a.JPEG", "a.WebP", "a.TIFF", "a.tar.gz.png", "with space.jpg",
    ],
)
def test_is_image_name_accepts_image_extensions_in_any_case(name):
    assert is_image_name(name)


@pytest.mark.parametrize(
    "name", ["a.txt", "a.csv", "README", "jpg", "a.jpg.txt", "a.svg", "a.heic", "a.", ""]
)
def test_is_image_name_rejects_other_names(name):
    assert not is_image_name(name)


@pytest.mark.parametrize("name", [".hidden.jpg", "._photo.jpg", ".png", "._x.PNG"])
def test_is_image_name_rejects_hidden_and_appledouble(name):
    assert not is_image_name(name)


# --- scan: what is found --------------------------------------------------------------------


def test_scan_empty_folder_yields_nothing(tmp_path):
    assert list(scan(tmp_path)) == []


def test_scan_returns_scanned_files(tmp_path):
    touch(tmp_path / "a.jpg")
    (result,) = list(scan(tmp_path))
    assert isinstance(result, ScannedFile)


def test_scan_walks_recursively(tmp_path):
    touch(tmp_path / "top.jpg")
    touch(tmp_path / "a" / "mid.png")
    touch(tmp_path / "a" / "b" / "c" / "deep.gif")
    assert set(paths(tmp_path)) == {"top.jpg", "a/mid.png", "a/b/c/deep.gif"}


def test_scan_finds_every_extension_in_any_case(tmp_path):
    names = [
        "1.jpg", "2.JPG", "3.jpeg", "4.Jpeg", "5.png", "6.Png", "7.webp", "8.WEBP",
        "9.bmp", "10.BMP", "11.gif", "12.GiF", "13.tif", "14.TIF", "15.tiff", "16.TiFf",
    ]
    for name in names:
        touch(tmp_path / name)
    assert set(paths(tmp_path)) == set(names)


def test_scan_ignores_non_image_files(tmp_path):
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "labels.csv")
    touch(tmp_path / "Makefile")
    touch(tmp_path / "sub" / "README")
    touch(tmp_path / "keep.png")
    assert paths(tmp_path) == ["keep.png"]


def test_scan_skips_hidden_files(tmp_path):
    touch(tmp_path / ".hidden.jpg")
    touch(tmp_path / "sub" / ".also_hidden.png")
    touch(tmp_path / "visible.jpg")
    assert paths(tmp_path) == ["visible.jpg"]


def test_scan_skips_hidden_folders(tmp_path):
    touch(tmp_path / ".git" / "a.jpg")
    touch(tmp_path / ".cache" / "deep" / "b.png")
    touch(tmp_path / "sub" / ".thumbs" / "c.png")
    touch(tmp_path / "sub" / "d.png")
    assert paths(tmp_path) == ["sub/d.png"]


def test_scan_skips_appledouble_files(tmp_path):
    touch(tmp_path / "photo.jpg")
    touch(tmp_path / "._photo.jpg", b"\x00\x05\x16\x07")
    touch(tmp_path / "sub" / "._other.PNG")
    assert paths(tmp_path) == ["photo.jpg"]


def test_scan_ignores_folder_named_like_an_image(tmp_path):
    touch(tmp_path / "album.jpg" / "inside.png")
    assert paths(tmp_path) == ["album.jpg/inside.png"]


# --- scan: how paths, sizes and times are reported -----------------------------------------


def test_scan_paths_are_relative_with_forward_slashes(tmp_path):
    touch(tmp_path / "a" / "b" / "x.jpg")
    (result,) = list(scan(tmp_path))
    assert result.path == "a/b/x.jpg"
    assert not result.path.startswith("/")
    assert "\\" not in result.path
    assert str(tmp_path) not in result.path


def test_scan_accepts_root_as_string(tmp_path):
    touch(tmp_path / "a" / "x.jpg")
    assert [f.path for f in scan(str(tmp_path))] == ["a/x.jpg"]


def test_scan_reports_size(tmp_path):
    touch(tmp_path / "empty.png", b"")
    touch(tmp_path / "ten.png", b"0123456789")
    sizes = {f.path: f.size for f in scan(tmp_path)}
    assert sizes == {"empty.png": 0, "ten.png": 10}


def test_scan_reports_mtime(tmp_path):
    path = touch(tmp_path / "a.jpg")
    os.utime(path, (1_600_000_000, 1_234_567_890.5))
    (result,) = list(scan(tmp_path))
    assert result.mtime == pytest.approx(1_234_567_890.5)
    assert result.mtime == path.stat().st_mtime


# --- scan: symlinks --------------------------------------------------------------------------


def test_scan_symlink_loop_to_parent_terminates_and_lists_each_file_once(tmp_path):
    touch(tmp_path / "a" / "x.jpg")
    touch(tmp_path / "top.png")
    os.symlink(tmp_path / "a", tmp_path / "a" / "loop")  # a/loop -> a
    os.symlink(tmp_path, tmp_path / "a" / "up")  # a/up -> root
    result = paths(tmp_path)
    assert sorted(result) == ["a/x.jpg", "top.png"]


def test_scan_relative_symlink_loop_terminates(tmp_path):
    touch(tmp_path / "d" / "x.jpg")
    os.symlink("..", tmp_path / "d" / "parent")  # d/parent -> root (relative)
    assert paths(tmp_path) == ["d/x.jpg"]


def test_scan_follows_symlinked_folder_elsewhere(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    touch(outside / "ext.jpg")
    touch(outside / "nested" / "deeper.png")
    touch(root / "own.jpg")
    os.symlink(outside, root / "linked")
    assert sorted(paths(root)) == ["linked/ext.jpg", "linked/nested/deeper.png", "own.jpg"]


def test_scan_follows_a_folder_linked_twice_only_once(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    touch(outside / "ext.jpg")
    root.mkdir()
    os.symlink(outside, root / "link1")
    os.symlink(outside, root / "link2")
    result = paths(root)
    assert len(result) == 1
    assert result[0] in ("link1/ext.jpg", "link2/ext.jpg")


def test_scan_skips_broken_symlinks(tmp_path):
    touch(tmp_path / "real.jpg")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "broken.jpg")
    os.symlink(tmp_path / "gone_dir", tmp_path / "broken_dir")
    assert paths(tmp_path) == ["real.jpg"]


# --- scan: order ---------------------------------------------------------------------------


def test_scan_order_is_deterministic(tmp_path):
    """Whatever order the files were made in: a folder's files by name (code point order),
    then its subfolders by name, depth first."""
    names = ["b.jpg", "a.png", "C.gif", "z/1.jpg", "m/2.jpg", "m/0.png", "a0/x.bmp", "m/10.png"]
    expected = ["C.gif", "a.png", "b.jpg", "a0/x.bmp", "m/0.png", "m/10.png", "m/2.jpg",
                "z/1.jpg"]
    rng = random.Random(7)
    for copy in range(4):
        order = names[:]
        rng.shuffle(order)
        root = tmp_path / f"copy{copy}"
        for name in order:
            touch(root / name)
        assert paths(root) == expected, order


def test_scan_order_does_not_depend_on_creation_order(tmp_path):
    names = ["b.jpg", "a.png", "c/3.jpg", "c/1.jpg", "c/2.jpg", "d.gif"]
    one, two = tmp_path / "one", tmp_path / "two"
    for name in names:
        touch(one / name)
    for name in reversed(names):
        touch(two / name)
    assert paths(one) == paths(two)


def test_scan_sorts_files_within_a_folder(tmp_path):
    for name in ["c.jpg", "a.jpg", "b.jpg"]:
        touch(tmp_path / "sub" / name)
    assert paths(tmp_path) == ["sub/a.jpg", "sub/b.jpg", "sub/c.jpg"]
