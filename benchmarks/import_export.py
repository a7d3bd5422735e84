"""Import (and, later, export) of 100,000 labels (issue 9): target under 5 s each.

Run: ``python benchmarks/import_export.py [--labels 100000] [--repeat 3]``. Makes a temporary
database of N images (no files: an import never opens them; image rows are made the way a
scan's sync makes them, as in ``queue_build.py``) with 10 classes, writes N ``path,label`` rows
as CSV and as JSON lines, and times ``tui-label import --yes`` on a fresh copy of the database,
end to end (a subprocess: start-up, the checking pass, the batched writes), then the same import
again (every row unchanged). The in-process split (plan, apply) is printed beside it.

``bench_import`` is the import part; an export measurement can sit beside it in ``main``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_line, print_table  # noqa: E402
from tui_label.config import ClassSpec  # noqa: E402
from tui_label.importer import Importer, open_source  # noqa: E402
from tui_label.scan import ScannedFile  # noqa: E402
from tui_label.store import Store  # noqa: E402

CLASSES = [str(d) for d in range(10)]


def make_store(db: Path, n: int) -> None:
    """A database of ``n`` images in 100 folders and 10 classes, no labels."""
    store = Store(db, annotator="bench")
    store.set_classes([ClassSpec(name, name) for name in CLASSES])
    store.sync_images(ScannedFile(f"d{i // 1000:03d}/f{i:07d}.jpg", 100, 1.0) for i in range(n))
    store.close()


def write_sources(folder: Path, n: int) -> dict[str, Path]:
    """The same ``n`` labels as CSV and JSON lines (annotator and time on every row)."""
    rows = [(f"d{i // 1000:03d}/f{i:07d}.jpg", CLASSES[i % 10]) for i in range(n)]
    csv_path, jsonl_path = folder / "labels.csv", folder / "labels.jsonl"
    with open(csv_path, "w") as f:
        f.write("path,label,annotator,labeled_at\n")
        f.writelines(f"{p},{c},alice,2024-05-01T12:00:00.000Z\n" for p, c in rows)
    with open(jsonl_path, "w") as f:
        f.writelines(json.dumps({"path": p, "label": c, "annotator": "alice",
                                 "labeled_at": "2024-05-01T12:00:00.000Z"}) + "\n"
                     for p, c in rows)
    return {"csv": csv_path, "jsonl": jsonl_path}


def _cli_import(db: Path, source: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui_label", "import", str(source), "--db", str(db),
                    "--yes", "--json"], check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_import(folder: Path, n: int, repeat: int) -> list[list[object]]:
    """Rows of (format, run, command s, again s, plan s, apply s, labels stored)."""
    template = folder / "template.db"
    make_store(template, n)
    sources = write_sources(folder, n)
    table = []
    for fmt, source in sources.items():
        for run in range(repeat):
            db = folder / f"{fmt}-{run}.db"
            shutil.copyfile(template, db)
            first = _cli_import(db, source)
            again = _cli_import(db, source)
            # The same import in process, on another fresh copy: where the time goes.
            inproc = folder / f"{fmt}-{run}-inproc.db"
            shutil.copyfile(template, inproc)
            store = Store(inproc, annotator="bench")
            importer = Importer(store, open_source(source))
            t0 = time.perf_counter()
            plan = importer.plan()
            t1 = time.perf_counter()
            done = importer.apply()
            t2 = time.perf_counter()
            store.close()
            assert plan.new == done.new == n, (plan.new, done.new)
            stored = Store(db).counts().labeled
            assert stored == n, stored
            table.append([fmt, run + 1, f"{first:.2f}", f"{again:.2f}", f"{t1 - t0:.2f}",
                          f"{t2 - t1:.2f}", stored])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\nimport of {args.labels:,} labels (seconds)")
        print_table(["format", "run", "tui-label import --yes", "again (unchanged)", "plan",
                     "apply", "labels stored"], bench_import(Path(tmp), args.labels,
                                                             args.repeat))


if __name__ == "__main__":
    main()
