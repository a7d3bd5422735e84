"""Import (and, later, export) of 100,000 labels (issue 9): target under 5 s each.

Run: ``python benchmarks/import_export.py [--labels 100000] [--repeat 3]``. Makes a temporary
database of N images (no files: an import never opens them; image rows are made the way a
scan's sync makes them, as in ``queue_build.py``) with 10 classes, writes N ``path,label`` rows
as CSV and as JSON lines, and times ``tui-label import --yes`` on a fresh copy of the database,
end to end (a subprocess: start-up, the checking pass, the batched writes), then the same import
again (every row unchanged). The in-process split (plan, apply) is printed beside it.

``bench_import`` is the import part; an export measurement can sit beside it in ``main``.

``--multi-label`` measures multi-label mode instead (issue 9): a database of N images each
labeled with a set of 1-3 of the 10 classes, exported with ``tui-label export`` as CSV
(``;``-joined), JSON lines (lists) and, with ``--hf``, the Hugging Face layout (N empty files
made for it; metadata.jsonl and symlinks), best of ``--repeat``; each CSV/JSONL export is then
imported into a fresh copy of the database (images, classes, multi-label mode, no labels),
timed as above (and again, unchanged), and exported again: the two exports must be equal.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_line, print_table  # noqa: E402
from tui_label.config.settings import ClassSpec  # noqa: E402
from tui_label.core.times import now_iso
from tui_label.dataio.importing import Importer, open_source  # noqa: E402
from tui_label.media.scan import ScannedFile  # noqa: E402
from tui_label.store import Store
from tui_label.store.sql import classes_json  # noqa: E402

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


def make_multi_label_store(db: Path, n: int, *, labeled: bool) -> None:
    """``make_store`` in multi-label mode; ``labeled``: every image gets a set of 1-3 classes
    (annotator alice, written as a labeler would, in one transaction here)."""
    make_store(db, n)
    store = Store(db, annotator="bench")
    store.set_multi_label()
    if labeled:
        ids = [c.id for c in store.classes()]
        images = [row[0] for row in store.conn.execute("SELECT id FROM images ORDER BY path")]
        at = now_iso()
        events = [(image_id, classes_json({ids[(i * 7 + 3 * j) % 10] for j in range(1 + i % 3)}),
                   at) for i, image_id in enumerate(images)]
        store.conn.execute("BEGIN")
        store.conn.executemany("INSERT INTO label_events (image_id, action, classes, annotator, "
                               "created_at) VALUES (?, 'label', ?, 'alice', ?)", events)
        store.conn.execute("COMMIT")
    store.close()


def _timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the command's process) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui_label", *args], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cli_export(db: Path, out: Path, *args: str) -> tuple[float, float]:
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    os.sync()  # the deletion of the previous output must not be timed in this run
    return _timed(["export", *args, "--db", str(db), "--out", str(out)])


def _best(times: list[tuple[float, float]]) -> str:
    """The best wall time with its CPU time, and the worst wall time."""
    wall, cpu = min(times)
    worst = f", worst {max(times)[0]:.2f}" if len(times) > 1 else ""
    return f"{wall:.2f} (cpu {cpu:.2f}{worst})"


def bench_multi_label(folder: Path, n: int, repeat: int, hf: bool) -> list[list[object]]:
    """Rows of (mode, command, format, seconds, runs, rows/labels); the single-label rows
    are the same commands on single labels in the same run, for comparison."""
    labeled, empty = folder / "multi.db", folder / "multi-empty.db"
    make_multi_label_store(labeled, n, labeled=True)
    make_multi_label_store(empty, n, labeled=False)
    single_empty = folder / "single-empty.db"
    make_store(single_empty, n)
    single_source = write_sources(folder, n)["jsonl"]
    table = []
    for fmt in ("csv", "jsonl"):
        out = folder / f"multi.{fmt}"
        times = [_cli_export(labeled, out, "--format", fmt) for _ in range(repeat)]
        lines = len(out.read_text().splitlines()) - (fmt == "csv")
        table.append(["multi", "export", fmt, _best(times), repeat, lines])
        firsts, agains = [], []
        for run in range(repeat):
            db = folder / f"multi-{fmt}-{run}.db"
            shutil.copyfile(empty, db)
            firsts.append(_timed(["import", str(out), "--db", str(db), "--yes", "--json"]))
            agains.append(_timed(["import", str(out), "--db", str(db), "--yes", "--json"]))
        again = folder / f"again.{fmt}"
        _cli_export(db, again, "--format", fmt)
        assert again.read_bytes() == out.read_bytes(), "the round trip changed the export"
        stored = Store(db).counts().labeled
        assert stored == n, stored
        table.append(["multi", "import --yes", fmt, _best(firsts), repeat, stored])
        table.append(["multi", "import again (unchanged)", fmt, _best(agains), repeat, stored])
    firsts, exports = [], []
    for run in range(repeat):
        db = folder / f"single-{run}.db"
        shutil.copyfile(single_empty, db)
        firsts.append(_timed(["import", str(single_source), "--db", str(db), "--yes"]))
        exports.append(_cli_export(db, folder / "single.jsonl", "--format", "jsonl"))
    table.append(["single", "import --yes", "jsonl", _best(firsts), repeat, n])
    table.append(["single", "export", "jsonl", _best(exports), repeat, n])
    if hf:
        data = folder / "data"
        for i in range(n):
            path = data / f"d{i // 1000:03d}" / f"f{i:07d}.jpg"
            if i % 1000 == 0:
                path.parent.mkdir(parents=True)
            path.touch()
        out = folder / "hf"
        times = [_cli_export(labeled, out, str(data), "--format", "hf") for _ in range(repeat)]
        written = sum(1 for _ in open(out / "metadata.jsonl"))
        table.append(["multi", "export", "hf (symlinks)", _best(times), repeat, written])
        single = folder / f"single-{repeat - 1}.db"
        times = [_cli_export(single, out, str(data), "--format", "hf") for _ in range(repeat)]
        table.append(["single", "export", "hf (symlinks)", _best(times), repeat, n])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--multi-label", action="store_true",
                        help="measure multi-label export and import instead")
    parser.add_argument("--hf", action="store_true",
                        help="with --multi-label: also the hf layout (makes N empty files)")
    args = parser.parse_args()
    print(machine_line())
    if args.multi_label:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"\nmulti-label: {args.labels:,} images, a set of 1-3 of 10 classes each "
                  "(seconds, whole command)")
            print_table(["labels", "command", "format", "seconds (best wall)", "runs",
                         "rows / labels stored"],
                        bench_multi_label(Path(tmp), args.labels, args.repeat, args.hf))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\nimport of {args.labels:,} labels (seconds)")
        print_table(["format", "run", "tui-label import --yes", "again (unchanged)", "plan",
                     "apply", "labels stored"], bench_import(Path(tmp), args.labels,
                                                             args.repeat))


if __name__ == "__main__":
    main()
