"""Walk a dataset folder and yield its image files. Pure: no database, no UI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


@dataclass(frozen=True, slots=True)
class ScannedFile:
    """An image file found by a scan; ``path`` is relative to the root, with ``/``."""

    path: str
    size: int
    mtime: float


def is_image_name(name: str) -> bool:
    """True for visible image files by extension, in any case; not AppleDouble ``._x``."""
    if name.startswith("."):  # hidden files and AppleDouble "._name" alike
        return False
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def scan(root: Path) -> Iterator[ScannedFile]:
    """Yield every image under ``root``, recursively, in a stable (sorted) order.

    Hidden files and folders are skipped, symlinked folders are followed once (a loop is
    visited only the first time), and folders that cannot be read are passed over.
    """
    root = Path(root)
    seen_dirs: set[tuple[int, int]] = set()
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                if entry.is_dir():  # follows symlinks; loops are caught by seen_dirs
                    subdirs.append((entry.path, prefix + name + "/"))
                elif is_image_name(name) and entry.is_file():
                    info = entry.stat()
                    yield ScannedFile(prefix + name, info.st_size, info.st_mtime)
            except OSError:  # broken symlink, vanished file
                continue
        stack.extend(reversed(subdirs))
