"""Scanning and opening a 100,000-image folder (issue 3).

Run (defaults take about a minute, most of it writing the files):

    /work/venv/bin/python benchmarks/scan.py
    /work/venv/bin/python benchmarks/scan.py --files 100000 --opens 5

Writes ``--files`` copies of one 1x1 JPEG (real, so they decode) into 100 x 10 nested folders
of a temporary directory, then measures:

* scan only: ``list(scan(root))``, the walk without the database;
* first scan + sync: ``Store.sync_images(scan(root))`` into an empty database;
* rescan + sync, nothing changed: the same again on the filled database;
* open to first image: from starting ``python -m tui_label label DIR --db DB --classes a,b
  --renderer halfcell`` in a tmux pane (160x48, its own tmux server) until the pane shows the
  status line ``1/<files>`` and no "loading" placeholder, with the database already indexed.
  Each open is ended with ``q``. The page cache is warm throughout (the files were just
  written), as it is on a second day of labeling.

It also checks that the labeler never imports torch: once in-process after importing the
labeler's modules, and once in a real ``label`` run (an exit hook writes out whether torch is
in ``sys.modules``).
"""

from __future__ import annotations

import argparse
import io
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import add_machine_args, print_table, start

PYTHON = sys.executable
COLS, ROWS = 160, 48


def write_tree(root: Path, files: int) -> None:
    """``files`` tiny JPEGs in nested folders: a/b/img.jpg, 100 x 10 folders."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 30, 30)).save(buf, "JPEG")
    data = buf.getvalue()
    for i in range(files):
        folder = root / f"part{i % 100:02d}" / f"sub{i // 100 % 10}"
        if i < 1000:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img{i:06d}.jpg").write_bytes(data)


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


class Tmux:
    """A private tmux server (its own socket), so nobody else's sessions are touched."""

    def __init__(self, workdir: Path) -> None:
        self.socket = str(workdir / "tmux.sock")

    def __call__(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-S", self.socket, *args], check=True,
                             capture_output=True, text=True)
        return out.stdout

    def running(self) -> bool:
        has = subprocess.run(["tmux", "-S", self.socket, "has-session", "-t", "bench"],
                             capture_output=True)
        return has.returncode == 0

    def pane(self) -> str:
        return self("capture-pane", "-p", "-t", "bench")

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


def open_to_first_image(tmux: Tmux, command: list[str], files: int, timeout: float = 60):
    """Seconds from sending ``command`` to a shell in the pane until the first image shows."""
    tmux("new-session", "-d", "-s", "bench", "-x", str(COLS), "-y", str(ROWS),
         "env", "PS1=$ ", "bash", "--norc", "--noprofile")
    deadline = time.perf_counter() + 10
    while "$" not in tmux.pane():  # the shell is ready
        if time.perf_counter() > deadline:
            raise TimeoutError("shell did not start in tmux")
        time.sleep(0.01)
    marker = f"1/{files}"
    t0 = time.perf_counter()
    tmux("send-keys", "-t", "bench", "exec " + shlex.join(command), "Enter")
    while True:
        screen = tmux.pane()
        elapsed = time.perf_counter() - t0
        if marker in screen and "loading" not in screen:
            break
        if elapsed > timeout:
            raise TimeoutError(f"no first image after {timeout} s; the pane shows:\n{screen}")
        time.sleep(0.005)
    tmux("send-keys", "-t", "bench", "q")
    deadline = time.perf_counter() + 30
    while tmux.running():
        if time.perf_counter() > deadline:
            raise TimeoutError("the labeler did not quit")
        time.sleep(0.05)
    return elapsed, screen


def torch_in_process() -> bool:
    """Import the labeler's modules in a fresh interpreter: is torch loaded?"""
    code = ("import sys, tui_label.cli.main, tui_label.tui.app, tui_label.tui.screens.label, "
            "tui_label.tui.widgets.image_view; print('torch' in sys.modules)")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--opens", type=int, default=5, help="timed opens to first image")
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)
    from tui_label.config.settings import ClassSpec
    from tui_label.media.scan import scan
    from tui_label.store import Store

    rows = []
    with tempfile.TemporaryDirectory(prefix="tui-label-bench-") as tmp:
        tmp = Path(tmp)
        root, db = tmp / "images", tmp / "labels.db"
        took, _ = timed(lambda: write_tree(root, args.files))
        print(f"wrote {args.files} files in {took:.1f} s", flush=True)

        took, found = timed(lambda: list(scan(root)))
        assert len(found) == args.files, len(found)
        rows.append(["scan only (walk, stat)", "-", took])
        store = Store(db)
        store.set_classes([ClassSpec("a", "1"), ClassSpec("b", "2")])
        took, result = timed(lambda: store.sync_images(scan(root)))
        assert result.added == args.files, result
        rows.append(["first scan + sync (all new)", 3.0, took])
        took, result = timed(lambda: store.sync_images(scan(root)))
        assert result.added == result.changed == result.missing == 0, result
        rows.append(["rescan + sync, nothing changed", "-", took])
        store.close()

        opens = []
        if shutil.which("tmux") is None:
            print("tmux not found: open-to-first-image skipped")
        else:
            tmux = Tmux(tmp)
            command = [PYTHON, "-m", "tui_label", "label", str(root), "--db", str(db),
                       "--classes", "a,b", "--renderer", "halfcell"]
            flag = tmp / "torch.txt"
            hook = ("import atexit, runpy, sys; flag = sys.argv.pop(); atexit.register("
                    "lambda: open(flag, 'w').write(str('torch' in sys.modules))); "
                    "sys.argv[0] = 'tui_label'; runpy.run_module('tui_label', run_name='__main__')")
            try:
                for _ in range(args.opens):
                    took, screen = open_to_first_image(tmux, command, args.files)
                    opens.append(took)
                # One more, untimed, through an exit hook that records whether torch got loaded.
                hooked = [PYTHON, "-c", hook, *command[3:], str(flag)]
                open_to_first_image(tmux, hooked, args.files)
            finally:
                tmux.kill()
            marker = f"1/{args.files}"
            status = next((line.strip() for line in screen.splitlines() if marker in line), "")
            print(f"status line at first image: {status}")
            torch_in_run = flag.read_text() if flag.exists() else "unknown (hook did not run)"

    opens.sort()
    table = [[name, "-" if target == "-" else f"< {target:.0f} s", f"{took:.2f}",
              "-" if target == "-" else ("pass" if took < target else "FAIL")]
             for name, target, took in rows]
    if opens:
        median = opens[len(opens) // 2]
        table.append([f"open to first image (median of {len(opens)})", "< 1 s", f"{median:.2f}",
                      "pass" if median < 1 else "FAIL"])
        table.append(["open to first image (slowest)", "< 1 s", f"{opens[-1]:.2f}",
                      "pass" if opens[-1] < 1 else "FAIL"])
    print()
    print(f"{args.files} files, seconds")
    print_table(["figure", "target", "measured", "result"], table)
    print()
    print(f"torch imported by the labeler's modules (in-process check): {torch_in_process()}")
    if opens:
        print(f"torch imported during a real label run: {torch_in_run}")


if __name__ == "__main__":
    main()
