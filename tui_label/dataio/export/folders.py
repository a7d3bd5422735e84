"""The ImageFolder layout (``CLASS/FILE``, or ``train/`` and ``val/`` of them), and the
pieces every folder format shares: class folders, split folders, finding and placing an image
(a symlink or a copy)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tui_label.dataio.export.names import UniqueNames

# Split folders, as stored (torchvision's habit; the Hugging Face loader reads "val" as its
# validation split). An image without a stored split goes to train/ once any split exists.
TRAIN, VAL = "train", "val"


@dataclass
class FolderExport:
    """What a folder export wrote and left out."""

    written: int = 0
    not_found: int = 0  # no such file under the dataset folder now
    outside: int = 0  # a stored path that leads out of the dataset folder


def write_imagefolder(tmp: Path, rows: Sequence[Mapping[str, object]], root: Path, *,
                      copy: bool = False) -> FolderExport:
    """``CLASS/FILE`` per labeled image, or ``train/CLASS/FILE`` and ``val/CLASS/FILE`` once
    any image has a stored split (those without one go to train/; every class gets a folder
    in both, so class indices agree between them). Files are symlinks to the images (absolute
    targets), or copies."""
    split_layout = any(row["split"] for row in rows)
    classes = class_folders(row["label"] for row in rows)
    splits = (TRAIN, VAL) if split_layout else ("",)
    for split in splits:
        for name in classes.values():
            os.makedirs(os.path.join(tmp, split, name))
    names: dict[str, UniqueNames] = {}
    summary = FolderExport()
    for row in rows:
        folder = os.path.join(tmp, split_folder(row, split_layout), classes[row["label"]])
        source = source_file(root, row["path"], summary)
        if source is None:
            continue
        name = names.setdefault(folder, UniqueNames()).claim(basename(row["path"]))
        place(source, os.path.join(folder, name), copy)
        summary.written += 1
    return summary


def class_folders(labels: Iterable[object], reserved: Iterable[str] = ()) -> dict[str, str]:
    """Each class name's folder name, unique once made safe (claimed in name order, so the
    same names always get the same folders)."""
    unique = UniqueNames(reserved)
    return {label: unique.claim(label, keep_ext=False) for label in sorted(set(map(str, labels)))}


def split_folder(row: Mapping[str, object], split_layout: bool) -> str:
    """The row's split folder: ``""`` without a split layout, else ``val`` or ``train``."""
    if not split_layout:
        return ""
    return VAL if row["split"] == VAL else TRAIN


def basename(path: object) -> str:
    """The file name of a stored ``/``-separated path."""
    return str(path).rsplit("/", 1)[-1]


def source_file(root: Path, path: object, summary: FolderExport) -> str | None:
    """The image's file under ``root``, or None (counted) when its stored path leads out of
    ``root`` or the file is not there."""
    rel = os.path.normpath(str(path))
    if os.path.isabs(rel) or rel == ".." or rel.startswith("../") or "\0" in rel:
        summary.outside += 1
        return None
    source = os.path.join(root, rel)
    if not os.path.isfile(source):
        summary.not_found += 1
        return None
    return source


def place(source: str, target: str, copy: bool) -> None:
    """Put the image ``source`` at ``target``: a symlink, or with ``copy`` a copy."""
    if copy:
        shutil.copyfile(source, target)
    else:
        os.symlink(source, target)
