"""Which outputs an export refuses: the database or one of its files, any SQLite file, a path
inside the dataset folder, a folder that holds either, and (without ``force``) anything that
exists."""

from __future__ import annotations

import os
from pathlib import Path

from tui_label.errors import UsageError

SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("", "-wal", "-shm", "-journal")


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _database_inside(folder: Path) -> Path | None:
    """An SQLite file anywhere under ``folder`` (symlinks not followed: replacing the folder
    removes links, not what they point at), or None."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink() and _is_sqlite(path):
                return path
    return None



def check_output(output: Path, db: Path, *, force: bool, root: Path | None = None,
                 folder: bool = False) -> None:
    """Refuse an output that is the database, one of its files, an SQLite file, inside the
    dataset folder ``root``, or (without ``force``) an existing file. A ``folder`` output may
    be an empty folder; a non-empty one needs ``force``, and one that holds the dataset or the
    database is refused (replacing it would delete them). A file output may not be a folder.

    Raises:
        UsageError: with a one-line reason.
    """
    db_files = [Path(f"{db}{suffix}") for suffix in _SIDECARS]
    _refuse_by_name(output, db, db_files, root=root, folder=folder)
    if not os.path.lexists(output):
        return
    if _same_file(output, db_files):
        raise UsageError(f"refusing to write the export onto the database {db}")
    if output.is_dir():
        _check_folder(output, force=force, folder=folder)
    elif _is_sqlite(output):
        raise UsageError(f"{output} is an SQLite database: refusing to overwrite it")
    elif not force:
        raise UsageError(f"{output} exists: pass --force to overwrite it")


def _refuse_by_name(output: Path, db: Path, db_files: list[Path], *, root: Path | None,
                    folder: bool) -> None:
    """The checks on resolved names, which catch a relative path, ``..`` and symlinked folders
    (``_same_file`` catches hard links and case-insensitive file systems)."""
    resolved = output.resolve()
    if any(resolved == path.resolve() for path in db_files):
        raise UsageError(f"refusing to write the export onto the database {db}")
    if root is not None and resolved.is_relative_to(root.resolve()):
        raise UsageError(f"refusing to write the export inside the dataset folder {root}")
    if folder:
        for what, held in (("dataset folder", root), ("database", db)):
            if held is not None and held.resolve().is_relative_to(resolved):
                raise UsageError(f"refusing to replace {output}: it holds the {what} {held}")


def _same_file(output: Path, paths: list[Path]) -> bool:
    """Whether ``output`` is one of ``paths`` (those that exist)."""
    for path in paths:
        try:
            if os.path.samefile(output, path):
                return True
        except OSError:  # that file does not exist (or the output is a dangling link)
            continue
    return False


def _check_folder(output: Path, *, force: bool, folder: bool) -> None:
    """An existing folder: only for a folder format, and replaced only when empty or with
    ``force`` (never when it holds an SQLite database)."""
    if not folder:
        raise UsageError(f"{output} is a folder: give a file name (or --format "
                         "imagefolder or hf)")
    if not any(os.scandir(output)):
        return
    if not force:
        raise UsageError(f"{output} is a folder with files in it: pass --force to replace "
                         "it")
    held = _database_inside(output)
    if held is not None:
        raise UsageError(f"refusing to replace {output}: it holds the SQLite database "
                         f"{held}")
