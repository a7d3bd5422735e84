"""``tui-label export``: each image's current label as CSV or JSON lines.

Two promises: an export never writes onto the database it reads (nor its ``-wal``/``-shm``
files, nor any other SQLite file) and never clobbers a file without ``--force``; and a failed
export leaves no half-written file (it writes a temporary file beside the target, then renames).

CSV cells that a spreadsheet would run as a formula get a leading single quote, as OWASP
recommends against CSV injection. JSON lines stay raw: no spreadsheet opens them.
No textual, no torch.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from tui_label.errors import UsageError

FIELDS = ("path", "label", "annotator", "labeled_at")
PREDICTION_FIELDS = ("predicted", "confidence")  # with --with-predictions
# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("", "-wal", "-shm", "-journal")


def neutralize(value: object) -> object:
    """``value`` with a ``'`` in front when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_csv(rows: Iterable[Mapping[str, object]], out: TextIO,
              fields: Sequence[str] = FIELDS) -> None:
    """Rows as CSV with a header; every text cell neutralized."""
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: neutralize(value) for key, value in row.items()})


def write_jsonl(rows: Iterable[Mapping[str, object]], out: TextIO) -> None:
    """Rows as one JSON object per line, values as stored."""
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def add_predictions(rows: list[dict], store) -> None:
    """Add each row's predicted class and its probability (``predicted``, ``confidence``)
    from the latest predicted run, in place; empty for an image it did not predict or a
    class it predicts that no longer exists.

    Raises:
        UsageError: no run has predictions yet.
    """
    run = store.latest_predicted_run()
    if run is None:
        raise UsageError("no predictions yet: train a run (it predicts at its end) or run "
                         "tui-label predict")
    names = {c.id: c.name for c in store.classes()}
    ids = dict(store.conn.execute("SELECT path, id FROM images"))
    predicted = store.predictions(run["id"], "model")
    for row in rows:
        p = predicted.get(ids.get(row["path"]))
        known = p is not None and p["class_id"] in names
        row["predicted"] = names[p["class_id"]] if known else ""
        row["confidence"] = round(p["probability"], 4) if known else ""


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def check_output(output: Path, db: Path, *, force: bool) -> None:
    """Refuse an output that is the database, one of its files, an SQLite file, or (without
    ``force``) any existing file.

    Raises:
        UsageError: with a one-line reason.
    """
    db_files = [Path(f"{db}{suffix}") for suffix in _SIDECARS]
    # Resolved names catch a relative path, ``..`` and symlinked folders; samefile below
    # catches hard links and case-insensitive file systems.
    resolved = output.resolve()
    if any(resolved == path.resolve() for path in db_files):
        raise UsageError(f"refusing to write the export onto the database {db}")
    if not os.path.lexists(output):
        return
    for path in db_files:
        try:
            if os.path.samefile(output, path):
                raise UsageError(f"refusing to write the export onto the database {db}")
        except OSError:  # that file does not exist (or the output is a dangling link)
            continue
    if _is_sqlite(output):
        raise UsageError(f"{output} is an SQLite database: refusing to overwrite it")
    if not force:
        raise UsageError(f"{output} exists: pass --force to overwrite it")


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
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
