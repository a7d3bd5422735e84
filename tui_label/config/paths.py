"""Where things live: the default database and the bundled sample data."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from tui_label.errors import UsageError

DB_NAME = "tui-label.db"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/tui-label`` (``~/.local/share/tui-label`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tui-label"


def is_writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (read-only mounts included)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tui-label-probe-"):
            return True
    except OSError:
        return False


def default_db(root: Path) -> Path:
    """``ROOT/tui-label.db`` when it exists or can be made; else one per dataset in the data dir."""
    local = root / DB_NAME
    if local.exists() or is_writable(root):
        return local
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]
    return data_dir() / f"{root.name or 'root'}-{digest}.db"


def sample_data_dir() -> Path:
    """The bundled digits: inside the installed package, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the tui_label package
    for candidate in (here / "sample_data", here.parent / "sample_data"):
        if (candidate / "tui-label.toml").is_file():
            return candidate
    raise FileNotFoundError("the bundled sample_data folder is missing from this install")


def runs_dir(db: Path) -> Path:
    """Checkpoints and trainer logs: ``<db folder>/<db name>-runs/``."""
    return db.parent / f"{db.stem}-runs"


def dataset_root(path: str | Path) -> Path:
    """A dataset folder given on the command line, resolved; ``UsageError`` when it is not one."""
    root = Path(path).expanduser()
    if not root.exists():
        raise UsageError(f"folder not found: {root}")
    if not root.is_dir():
        raise UsageError(f"not a folder: {root}")
    return root.resolve()
