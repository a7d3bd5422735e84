"""Speed of the model-side helpers: live-head refit, out-of-sample folds, typical-first, suspects.

    python benchmarks/model_speed.py [--labels 10000] [--dim 512] [--classes 10] [--repeats 5]

Synthetic embeddings shaped like a run's (float16, ReLU features with class structure, classes
overlapping enough that logistic regression needs a few dozen L-BFGS iterations).

- ``fit`` in this process (scikit-learn, BLAS on every core): cold, and warm from the previous
  head after 10 more labels (what the live head does every 10 labels);
- the live head as the labeler runs it: ``LiveHead.refit`` in its spawned worker (niced, one
  BLAS thread), reading the embeddings memory-mapped from a .npy file and returning the
  probabilities of every row: the first call (process start and imports) and the steady state
  (warm starts), and a cold fit timed inside the worker;
- ``fit_predict_oof`` (5 folds), ``typical_first`` and ``rank_suspects`` on the same data;
- start-up: what importing the labeler and creating a ``LiveHead`` loads (no scikit-learn).

Target: live-head refit on 10,000 labels x 512 dimensions under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# This folder goes last: a script named like a standard module would hide it (queue.py hid queue),
# which concurrent.futures (the live head) imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))
from _common import add_machine_args, print_table, start  # noqa: E402


def embeddings(n: int, dim: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(classes, dim))
    y = rng.integers(0, classes, n)
    x = np.maximum(0.15 * means[y] + rng.normal(size=(n, dim)), 0)
    return x.astype(np.float16), y


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median and max seconds of ``repeats`` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times), result


def imports_of(code: str) -> tuple[float, set[str]]:
    """Seconds and top-level modules loaded by ``code`` in a fresh interpreter."""
    probe = (f"import sys, time; t = time.perf_counter(); {code}; "
             "print(time.perf_counter() - t); print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=HERE.parent).stdout.splitlines()
    return float(out[0]), {m.split(".")[0] for m in out[1].split()}


def cold_fit_in_worker(path: str, labels: np.ndarray, classes: int) -> float:
    """In the live head's worker (niced, one BLAS thread): seconds of a fit with no warm
    start."""
    from tui_label.assist.live_head import fit

    emb = np.load(path, mmap_mode="r")
    t0 = time.perf_counter()
    fit(emb[:len(labels)], labels, classes)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--unlabeled", type=int, default=90_000,
                        help="extra rows the live head predicts (the rest of the dataset)")
    parser.add_argument("--repeats", type=int, default=5)
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)

    from tui_label.assist.live_head import LiveHead, fit, fit_predict_oof
    from tui_label.assist.suspects import rank_suspects
    from tui_label.assist.typiclust import typical_first

    n, d, c = args.labels, args.dim, args.classes
    x, y = embeddings(n + args.unlabeled, d, c)
    xl, yl = x[:n], y[:n]
    rows: list[list[object]] = []

    def row(what: str, median: float, worst: float, target: str = "-") -> None:
        verdict = "-" if target == "-" else ("pass" if worst < float(target.split()[1]) else
                                             "FAIL")
        rows.append([what, f"{median:.3f}", f"{worst:.3f}", target, verdict])

    fit(xl[:100], yl[:100], c)  # scikit-learn imported before timing
    med, worst, head = timed(lambda: fit(xl, yl, c), args.repeats)
    row(f"fit, cold, {n} x {d}, {c} classes (this process)", med, worst, "< 1")
    before = fit(xl[:-10], yl[:-10], c)
    med, worst, _ = timed(lambda: fit(xl, yl, c, warm=before), args.repeats)
    row("fit, warm from the head 10 labels earlier", med, worst)
    med, worst, _ = timed(lambda: head.predict_proba(x), args.repeats)
    row(f"predict_proba, {len(x)} rows (numpy)", med, worst)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "embeddings.npy"
        np.save(path, x)
        labeled_rows = np.arange(n)
        with LiveHead() as live:
            t0 = time.perf_counter()
            live.refit(path, labeled_rows[:-10], yl[:-10], c).result()
            first = time.perf_counter() - t0
            row("LiveHead first refit (spawn worker, import scikit-learn, fit, predict all)",
                first, first)
            med, worst, _ = timed(lambda: live.refit(path, labeled_rows, yl, c).result(),
                                  args.repeats)
            row(f"LiveHead refit: {n} labels, probabilities of all {len(x)} rows (worker)",
                med, worst, "< 1")
            cold = [live.call(cold_fit_in_worker, str(path), yl, c).result()
                    for _ in range(args.repeats)]
            row("  of which a cold fit alone would take (worker, 1 thread)",
                statistics.median(cold), max(cold))

    med, worst, _ = timed(lambda: fit_predict_oof(xl, yl, c), 1)
    row(f"fit_predict_oof, 5 folds, {n} x {d}", med, worst)
    mask = np.zeros(n, bool)
    mask[:100] = True
    med, worst, _ = timed(lambda: typical_first(xl, mask), 1)
    row(f"typical_first, {n} rows, 100 labeled (120 clusters)", med, worst)
    probs = fit_predict_oof(xl, yl, c)
    med, worst, _ = timed(lambda: rank_suspects(yl, probs, np.arange(n), list(range(c))), 1)
    row(f"rank_suspects (confident learning), {n} labels", med, worst)

    print(f"\n{n} labels x {d} dims, {c} classes; seconds, median / max of "
          f"{args.repeats} (1 for the last three)")
    print_table(["step", "median s", "max s", "target", "result"], rows)

    print("\nstart-up: modules loaded in a fresh interpreter")
    checks = [("import tui_label.tui.screens.label (the labeling screen)",
               "import tui_label.tui.screens.label"),
              ("LiveHead() created, no refit yet",
               "from tui_label.assist.live_head import LiveHead; LiveHead()"),
              ("import sklearn.linear_model (what the worker loads)",
               "import sklearn.linear_model")]
    table = []
    for what, code in checks:
        seconds, loaded = imports_of(code)
        heavy = sorted(loaded & {"sklearn", "scipy", "cleanlab", "pandas", "torch"})
        table.append([what, f"{seconds:.2f}", ", ".join(heavy) or "none"])
    print_table(["code", "import s", "heavy modules loaded"], table)


if __name__ == "__main__":
    main()
