"""Label errors: does the suspect queue find labels flipped on purpose?

    python benchmarks/label_errors.py [--seeds 3] [--flip 0.05] [--fine-tune-folds K]

All 500 sample digits are labeled from the ground truth, then 5% of the labels (25) are flipped
to another digit at random (a new draw per seed). Suspect queues, each from out-of-sample
probabilities ranked by ``label_errors.rank_suspects`` (confident learning's flags and every
label whose top class is another, by self-confidence):

- ``run``: the product's path: a real engine run (small CNN, --image-size 16, 30 epochs) trained
  on the noisy labels, predictions at its end, 5-fold linear-head out-of-sample probabilities on
  its embeddings, suspects stored in the database (read back with ``Store.suspects``);
- ``pixels``: ``live_head.fit_predict_oof`` on raw pixels (the 8x8 source digits);
- ``run+pixels``: the same on the run's embeddings and the pixels side by side;
- ``run, confident learning only``: the run's out-of-sample probabilities, the flags of our
  confident-learning filter alone (without the labels whose top class is another);
- ``run, cleanlab's flags only``: the same with cleanlab's ``find_label_issues`` (its default
  filter), when cleanlab is installed (it is not a dependency);
- ``run, all by self-confidence``: no filter, every label ranked by the run's out-of-sample
  probability of the given label (lowest first);
- with ``--fine-tune-folds K``: the engine's ``--folds K`` (K fine-tuned CNNs, each without one
  fold) instead of the linear head.

Target: at least 80% of the flipped labels in the top 10% of the suspect queue (the first 50 of
500 labels; the whole queue when it is shorter). Precision and recall at that cut.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# This folder goes last: a script named like a standard module would hide it (queue.py hid queue).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))
from _common import SAMPLE_DATA, add_machine_args, print_table, start  # noqa: E402
from active_learning import CLASSES, load_digits  # noqa: E402

from tui_label.assist.live_head import fit_predict_oof  # noqa: E402
from tui_label.assist.suspects import confident_learning_issues, rank_suspects  # noqa: E402


def flip(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``share`` of them changed to another class at random; the changed rows."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), round(share * len(y)), replace=False))
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, CLASSES, len(rows))) % CLASSES
    return noisy, rows


def score(queue: list[int], flipped: np.ndarray, cut: int) -> tuple[float, float, int]:
    """(precision, recall) in the first ``cut`` of ``queue`` (rows), and the queue's length."""
    top = set(queue[:cut])
    hits = len(top & set(flipped.tolist()))
    return hits / max(len(top), 1), hits / len(flipped), len(queue)


def run_engine(db: Path, noisy: np.ndarray, paths: list[str], seed: int, size: int,
               epochs: int, folds: int | None) -> tuple[list[int], np.ndarray, np.ndarray,
                                                         np.ndarray, float]:
    """Label every image with ``noisy``, train and predict. Returns the stored suspect queue
    (data rows), the run's out-of-sample probabilities (rows in data order), its embeddings
    and the labeled rows in that order, and the run's seconds."""
    from tui_label.assist.predictions import PredictionSet, predictions_dir
    from tui_label.config.paths import runs_dir
    from tui_label.config.settings import ClassSpec
    from tui_label.core.orders import OrderChoice
    from tui_label.media.scan import scan
    from tui_label.runs.emit import Emitter
    from tui_label.runs.options import TrainOptions
    from tui_label.store import Store
    from tui_label.trainer.run import train

    store = Store(db, annotator="bench")
    store.set_classes([ClassSpec(str(d), str(d)) for d in range(CLASSES)])
    store.sync_images(scan(SAMPLE_DATA))
    class_id = {c.name: c.id for c in store.classes()}
    ids = {item.path: item.id for item in OrderChoice("all").rank(store.queue_rows())}
    row_of = {ids[p]: row for row, p in enumerate(paths)}
    for row, p in enumerate(paths):
        store.label(ids[p], class_id[str(noisy[row])])
    store.close()
    opts = TrainOptions(db=db, root=SAMPLE_DATA, epochs=epochs, batch_size=32, device="cpu",
                        events="json", image_size=size, seed=seed, folds=folds)
    t0 = time.perf_counter()
    if train(opts, Emitter("json", io.StringIO())) != 0:
        raise SystemExit("the engine's run failed")
    seconds = time.perf_counter() - t0
    store = Store(db)
    run = store.latest_run()
    queue = [row_of[s["image_id"]] for s in store.suspects(run["id"], open_only=False)]
    store.close()
    preds = PredictionSet.load(predictions_dir(runs_dir(db.resolve()) / f"run-{run['id']}"))
    column = [int(name) for name in preds.class_names]
    emb = np.zeros((len(paths), preds.embeddings.shape[1]), np.float32)
    emb[[row_of[int(i)] for i in preds.ids]] = preds.embeddings
    oof_rows = np.array([row_of[int(i)] for i in preds.oof_ids])
    oof = np.zeros((len(oof_rows), CLASSES), np.float32)
    oof[:, column] = preds.oof_probs
    return queue, oof, emb, oof_rows, seconds


def cleanlab_only(labels: np.ndarray, probs: np.ndarray) -> np.ndarray | None:
    """cleanlab's flags alone (its default filter), by self-confidence; None without cleanlab
    (not a dependency: ``pip install cleanlab`` for this comparison)."""
    import warnings

    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return find_label_issues(labels, probs / probs.sum(1, keepdims=True),
                                 return_indices_ranked_by="self_confidence", n_jobs=1)


def ranked_rows(noisy: np.ndarray, probs: np.ndarray, rows: np.ndarray) -> list[int]:
    found = rank_suspects(noisy[rows], probs, rows, list(range(CLASSES)))
    return [r["image_id"] for r in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--cut", type=float, default=0.10, help="share of the labels")
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fine-tune-folds", type=int, default=0, metavar="K",
                        help="also the engine's --folds K (K fine-tuned CNNs per seed)")
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)
    data = load_digits()
    cut = round(args.cut * len(data.y))
    every = np.arange(len(data.y))
    results: dict[str, list[tuple[float, float, int]]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        noisy, flipped = flip(data.y, args.flip, seed)
        with tempfile.TemporaryDirectory() as tmp:
            queue, oof, emb, oof_rows, took = run_engine(
                Path(tmp) / "le.db", noisy, data.paths, seed, args.size, args.epochs, None)
            seconds.setdefault("run", []).append(took)
            results.setdefault("run", []).append(score(queue, flipped, cut))
            flags = cleanlab_only(noisy[oof_rows], oof)
            if flags is not None:
                results.setdefault("run, cleanlab's flags only", []).append(
                    score(oof_rows[flags].tolist(), flipped, cut))
            ours = oof_rows[confident_learning_issues(noisy[oof_rows], oof)].tolist()
            results.setdefault("run, confident learning only", []).append(
                score(ours, flipped, cut))
            # Not a filter: every label, lowest out-of-sample p(given label) first.
            by_self = oof_rows[np.argsort(oof[np.arange(len(oof_rows)), noisy[oof_rows]],
                                          kind="stable")].tolist()
            results.setdefault("run, all by self-confidence", []).append(
                score(by_self, flipped, cut))
            t0 = time.perf_counter()
            probs = fit_predict_oof(data.pixels, noisy, CLASSES, seed=seed)
            seconds.setdefault("pixels", []).append(time.perf_counter() - t0)
            results.setdefault("pixels", []).append(
                score(ranked_rows(noisy, probs, every), flipped, cut))
            both = np.hstack([emb, data.pixels])
            probs = fit_predict_oof(both, noisy, CLASSES, seed=seed)
            results.setdefault("run+pixels", []).append(
                score(ranked_rows(noisy, probs, every), flipped, cut))
        if args.fine_tune_folds:
            with tempfile.TemporaryDirectory() as tmp:
                name = f"run, --folds {args.fine_tune_folds}"
                queue, *_, took = run_engine(Path(tmp) / "le.db", noisy, data.paths, seed,
                                             args.size, args.epochs, args.fine_tune_folds)
                seconds.setdefault(name, []).append(took)
                results.setdefault(name, []).append(score(queue, flipped, cut))
        print(f"seed {seed}: " + ", ".join(f"{k} recall {v[-1][1]:.2f}"
                                           for k, v in results.items()), flush=True)

    print(f"\n{len(data.y)} labels, {len(flipped)} flipped ({args.flip:.0%}), cut: the first "
          f"{cut} of the suspect queue; mean over {args.seeds} seeds (min..max)")
    rows = []
    for name, per_seed in results.items():
        p, r, n = (np.array(v) for v in zip(*per_seed, strict=True))
        rows.append([name, f"{r.mean():.3f} ({r.min():.2f}..{r.max():.2f})",
                     f"{p.mean():.3f} ({p.min():.2f}..{p.max():.2f})", f"{n.mean():.0f}",
                     "pass" if r.mean() >= 0.8 else "FAIL"])
    print_table(["suspects from", "recall @cut", "precision @cut", "queue length",
                 "target >= 0.8"], rows)
    for name, values in seconds.items():
        print(f"{name}: {np.mean(values):.1f} s per seed "
              f"({'train + predict + out-of-sample + suspects' if 'run' in name else 'oof'})")


if __name__ == "__main__":
    main()
