"""Writing an export so that a failure leaves the old output (or none) and never a partial one:
through a temporary file or folder beside the target, renamed into place once complete."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

from tui_label.errors import UsageError

T = TypeVar("T")


def write_atomically(output: Path, write: Callable[[TextIO], None]) -> None:
    """Write ``output`` through a temporary file in the same folder, renamed into place only
    once complete, so a failure leaves the old file (or none) and never a partial one.

    Raises:
        UsageError: the folder is missing or not writable, or the write fails.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _mode_for(output))
        os.replace(tmp, output)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        raise


def _mode_for(output: Path) -> int:
    """An overwritten file keeps its permissions; a new one gets the usual ``0666 & ~umask``
    (mkstemp's 0600 would surprise whoever shares the export)."""
    try:
        return stat.S_IMODE(os.stat(output).st_mode)
    except OSError:
        return _new_mode(0o666)


def _new_mode(mode: int) -> int:
    """``mode`` less the umask, as a freshly made file or folder gets (mkdtemp's 0700 would
    surprise whoever shares the export)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_folder_atomically(output: Path, build: Callable[[Path], T]) -> T:
    """Build a folder export in a temporary folder beside ``output`` and rename it into place
    once complete; an existing ``output`` (checked by ``check_output``) is moved aside first
    and deleted after (its symlinks are removed, never followed). A failure leaves the old
    output (or none) and no temporary folder.

    Raises:
        UsageError: the parent folder is missing or not writable, or a write fails.
    """
    try:
        tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        result = build(tmp)
        os.chmod(tmp, _new_mode(0o777))
        _replace_folder(tmp, output)
        return result
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        raise


def _replace_folder(new: Path, output: Path) -> None:
    if not os.path.lexists(output) or (output.is_dir() and not output.is_symlink()
                                       and not any(os.scandir(output))):
        os.replace(new, output)  # a rename replaces an empty folder
        return
    trash = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".old"))
    old = trash / "old"
    os.rename(output, old)
    try:
        os.rename(new, output)
    except BaseException:
        os.rename(old, output)
        trash.rmdir()
        raise
    shutil.rmtree(trash, ignore_errors=True)

