"""Start-up cost of two source trees, measured back to back (issue 16: the package layout).

Run:

    /work/venv/bin/python benchmarks/startup.py --baseline /path/to/old/checkout [--runs 15]

Each figure is the wall time of a fresh Python process, alternating between this checkout and
the baseline so that drift in the machine's speed falls on both alike:

* ``cli --help``: ``python -m tui_label --help`` (the command group and what it imports);
* ``labeler import``: importing the labeling screen module (Textual, the widgets, the
  session, the store: everything ``tui-label label`` loads before its first frame);
* ``trainer import``: importing the training engine's entry (torch included), as the trainer
  process does before its first step;
* ``stats``: ``tui-label stats`` on a copy of the bundled sample with its labels (open the
  database, read it, print).

The module names differ between layouts; each tree is asked for the first that exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, machine_line

LABELER = ("tui_label.tui.screens.label", "tui_label.screens.label")
TRAINER = ("tui_label.trainer.run", "tui_label.trainer.engine", "tui_label.train.engine")


def first_module(tree: Path, names: tuple[str, ...]) -> str:
    for name in names:
        path = tree.joinpath(*name.split("."))
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return name
    raise SystemExit(f"{tree}: none of {', '.join(names)}")


def timed(tree: Path, args: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def sample_db(baseline: Path, folder: Path) -> Path:
    """The bundled digits with 30 labels a class, written by the BASELINE tree's own test helper
    (tests/conftest.py's ``sample_store`` at 220a1ec): both trees then read the same file, which
    also shows that a database made before the move opens after it."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "labels.db"
    code = ("from pathlib import Path\n"
            "from tests.conftest import sample_store\n"
            f"sample_store(Path({str(db)!r}), 30).close()\n")
    subprocess.run([sys.executable, "-c", code], cwd=baseline, check=True,
                   env=dict(os.environ, PYTHONPATH=str(baseline)))
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="another checkout of tui-label (for example at commit 220a1ec)")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    trees = {"this": REPO, "baseline": args.baseline.resolve()}
    print(machine_line())
    tmp = Path(tempfile.mkdtemp(prefix="tui-label-startup-"))
    figures: dict[str, list[tuple[str, list[str]]]] = {}
    made = sample_db(trees["baseline"], tmp / "made")
    for name, tree in trees.items():
        db = tmp / name / "labels.db"
        db.parent.mkdir()
        shutil.copy(made, db)
        data = tree / "sample_data"
        figures[name] = [
            ("cli --help", ["-m", "tui_label", "--help"]),
            ("labeler import", ["-c", f"import {first_module(tree, LABELER)}"]),
            ("trainer import", ["-c", f"import {first_module(tree, TRAINER)}"]),
            ("stats", ["-m", "tui_label", "stats", str(data), "--db", str(db)]),
        ]
    times: dict[tuple[str, str], list[float]] = {}
    for name in trees:  # warm the file cache once
        for _label, cmd in figures[name]:
            timed(trees[name], cmd)
    for _ in range(args.runs):
        for label_index in range(len(figures["this"])):
            for name in trees:
                label, cmd = figures[name][label_index]
                times.setdefault((label, name), []).append(timed(trees[name], cmd))
    print(f"{'figure':16} {'this p50':>9} {'base p50':>9} {'ratio':>6}   (ms, {args.runs} runs)")
    for label, _ in figures["this"]:
        this = statistics.median(times[(label, "this")])
        base = statistics.median(times[(label, "baseline")])
        print(f"{label:16} {this * 1000:9.0f} {base * 1000:9.0f} {this / base:6.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
