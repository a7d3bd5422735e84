"""The Hugging Face ``imagefolder`` layout: the images in folders beside a ``metadata.csv`` (or,
multi-label, a ``metadata.jsonl`` whose ``label`` is a list)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from tui_label.dataio.export import folders
from tui_label.dataio.export.folders import TRAIN, VAL, FolderExport
from tui_label.dataio.export.names import UniqueNames

# The Hugging Face metadata.csv: file_name (relative to the metadata file) is required.
HF_FIELDS = ("file_name", "label", "split", "path", "annotator", "labeled_at")
HF_METADATA = "metadata.csv"
HF_METADATA_JSONL = "metadata.jsonl"  # multi-label: lists stay lists
HF_FOLDER_SIZE = 1_000  # multi-label hf: images per folder (no class folders for sets)


def write_hf(tmp: Path, rows: Sequence[Mapping[str, object]], root: Path, *,
             copy: bool = False, extra_fields: Sequence[str] = (),
             sets: bool = False) -> FolderExport:
    """The Hugging Face ``imagefolder`` layout: a ``metadata.csv`` (``file_name, label, split,
    path, annotator, labeled_at``) with the images in a folder per class beside it
    (``file_name`` is ``CLASS/FILE``), in ``OUT/``, or in ``train/`` and ``val/`` once any
    image has a stored split. ``load_dataset("imagefolder", data_dir=OUT)`` reads it; with a
    metadata file it takes ``label`` from it (the class name as stored, a string column), not
    from the folders. Folders per class keep each folder small: file creation in one folder of
    100,000 entries is several times slower, and the Hub takes at most 10,000 per folder.

    With ``sets`` (multi-label rows: ``label`` a list of names), the metadata is
    ``metadata.jsonl``, where ``label`` stays a list (``datasets`` reads it as a sequence of
    strings), and the images go in numbered folders of ``HF_FOLDER_SIZE`` (``0000/FILE``):
    an image of several classes has no one class folder."""
    if sets:
        return _write_hf_sets(tmp, rows, root, copy=copy, extra_fields=extra_fields)
    split_layout = any(row["split"] for row in rows)
    classes = folders.class_folders((row["label"] for row in rows), reserved=[HF_METADATA])
    names: dict[str, UniqueNames] = {}
    metadata: dict[str, list[dict]] = {}
    summary = FolderExport()
    for split in (TRAIN, VAL) if split_layout else ("",):
        os.makedirs(os.path.join(tmp, split), exist_ok=True)
        metadata[split] = []
    made: set[str] = set()
    for row in rows:
        split = folders.split_folder(row, split_layout)
        folder = os.path.join(tmp, split, classes[row["label"]])
        source = folders.source_file(root, row["path"], summary)
        if source is None:
            continue
        if folder not in made:
            os.mkdir(folder)
            made.add(folder)
        name = names.setdefault(folder, UniqueNames()).claim(folders.basename(row["path"]))
        folders.place(source, os.path.join(folder, name), copy)
        metadata[split].append({"file_name": f"{classes[row['label']]}/{name}", **row})
        summary.written += 1
    for split, entries in metadata.items():
        with open(os.path.join(tmp, split, HF_METADATA), "w", newline="",
                  encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=HF_FIELDS + tuple(extra_fields))
            writer.writeheader()
            # NUL cannot be in a file name, and csv before Python 3.11 cannot write it: a
            # class name holding one loses it here.
            writer.writerows({k: v.replace("\0", "") if isinstance(v, str) else v
                              for k, v in entry.items()} for entry in entries)
    return summary


def _write_hf_sets(tmp: Path, rows: Sequence[Mapping[str, object]], root: Path, *,
                   copy: bool, extra_fields: Sequence[str]) -> FolderExport:
    split_layout = any(row["split"] for row in rows)
    fields = HF_FIELDS + tuple(extra_fields)
    metadata: dict[str, list[str]] = {}
    names: dict[str, UniqueNames] = {}
    summary = FolderExport()
    for split in (TRAIN, VAL) if split_layout else ("",):
        os.makedirs(os.path.join(tmp, split), exist_ok=True)
        metadata[split] = []
    for row in rows:
        split = folders.split_folder(row, split_layout)
        source = folders.source_file(root, row["path"], summary)
        if source is None:
            continue
        entries = metadata[split]
        part = f"{len(entries) // HF_FOLDER_SIZE:04d}"
        folder = os.path.join(tmp, split, part)
        if len(entries) % HF_FOLDER_SIZE == 0:
            os.mkdir(folder)
        name = names.setdefault(folder, UniqueNames()).claim(folders.basename(row["path"]))
        folders.place(source, os.path.join(folder, name), copy)
        entry = {"file_name": f"{part}/{name}", **row}
        if entry.get("confidence") == "":  # no prediction: null, as a number column's
            entry["confidence"] = None
        entries.append(json.dumps({key: entry.get(key) for key in fields},
                                  ensure_ascii=False))
        summary.written += 1
    for split, lines in metadata.items():
        with open(os.path.join(tmp, split, HF_METADATA_JSONL), "w", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)
    return summary

