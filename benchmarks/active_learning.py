"""Active learning, simulated on the sample digits: which order reaches an accuracy soonest.

    python benchmarks/active_learning.py [--seeds 3] [--rounds 10] [--cnn-configs ...]
                                         [--plot benchmarks/active_learning.png]

The ground truth (sample_data/ground_truth.csv) plays the labeler. A fixed held-out set (the
first 10 images of each digit, as in train_accuracy.py) is never labeled; the other 400 are the
pool. Each configuration starts from 20 labels (2 random per class, or the 20 first of
typical-first), then adds 20 labels per round, chosen by its order from the model of the
previous round, and retrains: 20, 40, ..., 200 labels. Every configuration runs with 3 seeds.

Models ("the model in the loop"):

- ``pixels``: the live head (tui_label.assist.live_head.fit: standardised logistic regression) on
  raw pixels (the 8x8 digits the 64x64 images were upscaled from). Seconds per configuration.
- ``cnn``: what the labeler does between runs: the engine trains the small CNN on the labels
  so far (a real run: its own 20% validation split, best checkpoint, predictions with
  embeddings at the end; --image-size 16, nothing is lost from 8x8 digits), then the live head
  is fitted on the run's embeddings of all labels (``cnn head``). The order ranks by the head's
  probabilities. Also reported: the CNN's own accuracy (``cnn alone``) and the head on pixels
  and embeddings side by side (``cnn+pixels head``). About 5 s per round on 2 CPUs.

Orders (as in tui_label.core.orders): random; least-confident, margin, entropy (most uncertain
first, from the head's probabilities); typical (TypiClust turns, tui_label.assist.typiclust).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# This folder goes last: a script named like a standard module would hide it (queue.py hid queue),
# which concurrent.futures (the live head) imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(HERE.parent))
from _common import SAMPLE_DATA, add_machine_args, print_table, start  # noqa: E402

from tui_label.assist.live_head import DEFAULT_C  # noqa: E402
from tui_label.assist.live_head import fit as fit_head  # noqa: E402
from tui_label.assist.typiclust import typical_first  # noqa: E402
from tui_label.core.uncertainty import entropy, least_confidence, margin  # noqa: E402

PER_ROUND = 20
CLASSES = 10
# (start, order): each configuration's name is "start/order".
PIXEL_CONFIGS = ["random/random", "random/least-confident", "random/margin", "random/entropy",
                 "typical/random", "typical/margin", "typical/entropy", "typical/typical"]
CNN_CONFIGS = ["random/random", "random/margin", "typical/margin"]
seconds: list[list[float]] = []  # engine run times, per configuration and seed
HEAD_C = [DEFAULT_C]  # the live head's regularisation (--head-c to compare others)


def fit(x: np.ndarray, y: np.ndarray, classes: int):
    return fit_head(x, y, classes, C=HEAD_C[0])


@dataclass
class Digits:
    paths: list[str]
    y: np.ndarray
    pixels: np.ndarray  # N x 64, float32
    held: np.ndarray  # row indices never labeled
    pool: np.ndarray  # the rest


def load_digits() -> Digits:
    from PIL import Image

    rows = list(csv.DictReader(open(SAMPLE_DATA / "ground_truth.csv")))
    # BOX-downscaling a nearest-upscaled image gives back the source pixels exactly.
    pixels = np.stack([np.asarray(Image.open(SAMPLE_DATA / r["path"]).convert("L")
                                  .resize((8, 8), Image.Resampling.BOX), dtype=np.float32)
                       for r in rows]).reshape(len(rows), -1)
    y = np.array([int(r["label"]) for r in rows])
    seen: dict[int, int] = {}
    held = []
    for i, label in enumerate(y.tolist()):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= 10:
            held.append(i)
    held_arr = np.array(held)
    return Digits([r["path"] for r in rows], y, (255 - pixels) / 255, held_arr,
                  np.setdiff1d(np.arange(len(y)), held_arr))


def first_labels(data: Digits, start_name: str, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    if start_name == "random":
        return [int(i) for c in range(CLASSES)
                for i in rng.choice(data.pool[data.y[data.pool] == c], 2, replace=False)]
    # Typical-first needs embeddings before any run: the pixels stand in for them.
    order = typical_first(data.pixels[data.pool], np.zeros(len(data.pool), bool),
                          budget=PER_ROUND, seed=seed)
    return data.pool[order[:PER_ROUND]].tolist()


def next_labels(order_name: str, data: Digits, features: np.ndarray, labeled: list[int],
                probs_of, seed: int, round_no: int) -> list[int]:
    """The next PER_ROUND pool rows by ``order_name``; ``probs_of(rows)`` is the model's."""
    unlabeled = np.setdiff1d(data.pool, labeled)
    if order_name == "random":
        rng = np.random.default_rng(seed * 1000 + round_no)
        return unlabeled[rng.permutation(len(unlabeled))[:PER_ROUND]].tolist()
    if order_name == "typical":
        mask = np.isin(data.pool, labeled)
        order = typical_first(features[data.pool], mask, budget=PER_ROUND, seed=seed)
        return data.pool[order[:PER_ROUND]].tolist()
    probs = probs_of(unlabeled)
    score = {"least-confident": -least_confidence(probs), "margin": margin(probs),
             "entropy": -entropy(probs)}[order_name]
    return unlabeled[np.argsort(score, kind="stable")[:PER_ROUND]].tolist()


def held_accuracy(probs: np.ndarray, data: Digits) -> float:
    return float((probs.argmax(1) == data.y[data.held]).mean())


# -- pixels: the head alone -------------------------------------------------------------------


def run_pixels(config: str, data: Digits, seed: int, rounds: int) -> dict[str, list[float]]:
    start_name, order_name = config.split("/")
    labeled = first_labels(data, start_name, seed)
    curve = []
    for r in range(rounds):
        head = fit(data.pixels[labeled], data.y[labeled], CLASSES)
        curve.append(held_accuracy(head.predict_proba(data.pixels[data.held]), data))
        if r + 1 < rounds:
            labeled += next_labels(order_name, data, data.pixels, labeled,
                                   lambda rows, h=head: h.predict_proba(data.pixels[rows]),
                                   seed, r)
    return {"pixels head": curve}


# -- cnn: a real run per round, then the live head on its embeddings -----------------------


class EngineRuns:
    """A fresh database of the sample digits for one configuration and seed; ``train(labeled)``
    adds the new labels, runs the engine and returns (CNN probabilities, embeddings) for every
    image, rows in data order."""

    def __init__(self, data: Digits, tmp: Path, size: int, epochs: int) -> None:
        from tui_label.config.settings import ClassSpec
        from tui_label.core.orders import OrderChoice
        from tui_label.media.scan import scan
        from tui_label.store import Store

        self.data, self.size, self.epochs = data, size, epochs
        tmp.mkdir(parents=True)
        self.db = tmp / "al.db"
        store = Store(self.db, annotator="bench")
        store.set_classes([ClassSpec(str(d), str(d)) for d in range(CLASSES)])
        store.sync_images(scan(SAMPLE_DATA))
        self.class_id = {c.name: c.id for c in store.classes()}
        ids = {item.path: item.id for item in OrderChoice("all").rank(store.queue_rows())}
        self.image_id = [ids[p] for p in data.paths]
        self.row_of = {image_id: row for row, image_id in enumerate(self.image_id)}
        store.close()
        self.labeled: set[int] = set()
        self.seconds: list[float] = []

    def train(self, labeled: list[int], seed: int) -> tuple[np.ndarray, np.ndarray] | None:
        """None when the engine refuses the labels (a class with one label: a run needs two
        per labeled class, one for validation)."""
        from tui_label.assist.predictions import PredictionSet, predictions_dir
        from tui_label.config.paths import runs_dir
        from tui_label.errors import UsageError
        from tui_label.runs.emit import Emitter
        from tui_label.runs.options import TrainOptions
        from tui_label.store import Store
        from tui_label.trainer.run import train

        store = Store(self.db, annotator="bench")
        for row in set(labeled) - self.labeled:  # labels only grow within a configuration
            store.label(self.image_id[row], self.class_id[str(self.data.y[row])])
        self.labeled |= set(labeled)
        store.close()
        opts = TrainOptions(db=self.db, root=SAMPLE_DATA, epochs=self.epochs, batch_size=32,
                            device="cpu", events="json", image_size=self.size, seed=seed)
        t0 = time.perf_counter()
        try:
            if train(opts, Emitter("json", io.StringIO())) != 0:
                raise SystemExit("the engine's run failed")
        except UsageError as exc:
            print(f"  engine: {exc}")
            return None
        self.seconds.append(time.perf_counter() - t0)
        store = Store(self.db)
        run = store.latest_run()
        store.close()
        preds = PredictionSet.load(predictions_dir(runs_dir(self.db.resolve())
                                                   / f"run-{run['id']}"))
        rows = np.array([self.row_of[int(i)] for i in preds.ids])
        column = [int(name) for name in preds.class_names]  # the run's column -> digit
        probs = np.zeros((len(self.data.y), CLASSES), np.float32)
        probs[np.ix_(rows, column)] = preds.probs
        emb = np.zeros((len(self.data.y), preds.embeddings.shape[1]), np.float32)
        emb[rows] = preds.embeddings
        return probs, emb


def run_cnn(config: str, data: Digits, runs: EngineRuns, seed: int,
            rounds: int) -> dict[str, list[float]]:
    start_name, order_name = config.split("/")
    seconds.append(runs.seconds)
    labeled = first_labels(data, start_name, seed)
    curves: dict[str, list[float]] = {"cnn alone": [], "cnn head": [], "cnn+pixels head": []}
    for r in range(rounds):
        trained = runs.train(labeled, seed)
        if trained is None:
            # No run possible yet: the round's CNN figures are missing, and the labeler would
            # go on with what it has: here the head on pixels picks the next labels.
            for curve in curves.values():
                curve.append(float("nan"))
            head = fit(data.pixels[labeled], data.y[labeled], CLASSES)
            if r + 1 < rounds:
                labeled += next_labels(order_name, data, data.pixels, labeled,
                                       lambda rows, h=head: h.predict_proba(data.pixels[rows]),
                                       seed, r)
            continue
        cnn_probs, emb = trained
        head = fit(emb[labeled], data.y[labeled], CLASSES)
        both = np.hstack([emb, data.pixels])
        head_both = fit(both[labeled], data.y[labeled], CLASSES)
        curves["cnn alone"].append(held_accuracy(cnn_probs[data.held], data))
        curves["cnn head"].append(held_accuracy(head.predict_proba(emb[data.held]), data))
        curves["cnn+pixels head"].append(
            held_accuracy(head_both.predict_proba(both[data.held]), data))
        print(f"  cnn {config} seed {seed}: {len(labeled)} labels, head "
              f"{curves['cnn head'][-1]:.2f}, alone {curves['cnn alone'][-1]:.2f} "
              f"({runs.seconds[-1]:.1f} s)", flush=True)
        if r + 1 < rounds:
            labeled += next_labels(order_name, data, emb, labeled,
                                   lambda rows, h=head, e=emb: h.predict_proba(e[rows]),
                                   seed, r)
    return curves


# -- report ------------------------------------------------------------------------------------


@dataclass
class Results:
    labels: list[int]
    # (model, config) -> seeds x rounds accuracies
    curves: dict[tuple[str, str], list[list[float]]] = field(default_factory=dict)

    def add(self, config: str, per_model: dict[str, list[float]]) -> None:
        for model, curve in per_model.items():
            self.curves.setdefault((model, config), []).append(curve)

    def mean(self, key) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a round no seed could train
            return np.nanmean(np.array(self.curves[key], dtype=float), axis=0)


def _cell(values: np.ndarray) -> str:
    """Mean ± std of the seeds that have a figure; "n/a" when none has, "(k)" when k do."""
    ok = values[~np.isnan(values)]
    if len(ok) == 0:
        return "n/a"
    text = f"{ok.mean():.3f}±{ok.std():.3f}"
    return text if len(ok) == len(values) else f"{text} ({len(ok)})"


def labels_to_reach(labels: list[int], curve: np.ndarray, target: float) -> int | None:
    hits = np.flatnonzero(curve >= target - 1e-9)
    return labels[hits[0]] if len(hits) else None


def report(res: Results) -> dict:
    at = {n: i for i, n in enumerate(res.labels)}
    headers = ["model", "start/order"] + [str(n) for n in res.labels]
    rows = []
    for (model, config), runs in res.curves.items():
        a = np.array(runs)
        rows.append([model, config] + [_cell(a[:, i]) for i in range(a.shape[1])])
    print("\nheld-out accuracy (100 images), mean ± std over seeds, by number of labels:")
    print_table(headers, rows)

    summary: dict = {}
    print("\ntargets per model:")
    out = []
    for model in dict.fromkeys(m for m, _ in res.curves):
        base_key = (model, "random/random")
        if base_key not in res.curves or res.labels[-1] != 200:
            continue
        target = float(res.mean(base_key)[at[200]])
        best = None
        for (m, config) in res.curves:
            if m != model or config == "random/random":
                continue
            need = labels_to_reach(res.labels, res.mean((m, config)), target)
            if need is not None and (best is None or need < best[1]):
                best = (config, need)
        at100 = {c: float(res.mean((m, c))[at[100]]) for (m, c) in res.curves if m == model}
        best100 = max(at100.items(), key=lambda kv: kv[1])
        summary[model] = {"random_at_200": target, "best_order": best,
                          "best_at_100": best100}
        out.append([model, f"{target:.3f}",
                    f"{best[0]}: {best[1]} ({best[1] / 200:.0%})" if best else "not reached",
                    "pass" if best and best[1] <= 120 else "FAIL",
                    f"{best100[0]}: {best100[1]:.3f}", "pass" if best100[1] >= 0.93 else "FAIL"])
    print_table(["model", "random @200", "best order: labels to reach it", "<= 60%",
                 "best @100", ">= 0.93"], out)
    return summary


def plot(res: Results, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    models = list(dict.fromkeys(m for m, _ in res.curves))
    configs = list(dict.fromkeys(c for _, c in res.curves))
    colours = dict(zip(configs, plt.get_cmap("tab10").colors, strict=False))
    cols = 2 if len(models) > 1 else 1
    fig, axes = plt.subplots((len(models) + cols - 1) // cols, cols, sharey=True, squeeze=False,
                             figsize=(5.6 * cols, 4.2 * ((len(models) + cols - 1) // cols)))
    x = np.array(res.labels)
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: rounds with no run
    for ax, model in zip(axes.flat, models, strict=False):
        for (m, config), runs in res.curves.items():
            if m != model:
                continue
            a = np.array(runs, dtype=float)
            bold = config in ("random/random", "typical/margin", "random/margin")
            ax.plot(x, np.nanmean(a, 0), marker=".", label=config, color=colours[config],
                    linewidth=2.2 if bold else 1)
            ax.fill_between(x, np.nanmin(a, 0), np.nanmax(a, 0), alpha=0.12,
                            color=colours[config])
        ax.axhline(0.93, color="grey", linestyle=":", linewidth=1)
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("labels")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.flat[len(models):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out accuracy (100 digits)")
    axes[0][0].set_ylim(0.4, 1.0)
    seeds = len(next(iter(res.curves.values())))
    fig.suptitle(f"Active learning on the sample digits: mean of {seeds} seeds, band = min..max;"
                 " dotted: 0.93", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10, help="rounds of 20 labels")
    parser.add_argument("--pixel-configs", default=",".join(PIXEL_CONFIGS))
    parser.add_argument("--cnn-configs", default=",".join(CNN_CONFIGS),
                        help="configurations for the CNN in the loop ('' to skip: ~5 s a round)")
    parser.add_argument("--cnn-size", type=int, default=16)
    parser.add_argument("--cnn-epochs", type=int, default=30)
    parser.add_argument("--plot", default=str(HERE / "active_learning.png"),
                        help="PNG to write ('' for none)")
    parser.add_argument("--json", type=Path, help="also write the curves here")
    parser.add_argument("--from-json", type=Path,
                        help="report and plot the curves saved by an earlier --json run")
    parser.add_argument("--head-c", type=float, default=DEFAULT_C,
                        help="the live head's C (default: the labeler's, %(default)s)")
    add_machine_args(parser)
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        res = Results(saved["labels"])
        for key, runs in saved["curves"].items():
            res.curves[tuple(key.split(" | "))] = runs
        report(res)
        if args.plot:
            plot(res, Path(args.plot))
        return
    start(args)
    HEAD_C[0] = args.head_c
    t0 = time.perf_counter()
    data = load_digits()
    res = Results([PER_ROUND * (r + 1) for r in range(args.rounds)])
    for config in filter(None, args.pixel_configs.split(",")):
        for seed in range(args.seeds):
            res.add(config, run_pixels(config, data, seed, args.rounds))
    print(f"pixels: {time.perf_counter() - t0:.0f} s", flush=True)
    cnn_configs = list(filter(None, args.cnn_configs.split(",")))
    if cnn_configs:
        with tempfile.TemporaryDirectory() as tmp:
            for config in cnn_configs:
                for seed in range(args.seeds):
                    runs = EngineRuns(data, Path(tmp) / f"{config.replace('/', '-')}-{seed}",
                                      args.cnn_size, args.cnn_epochs)
                    res.add(config, run_cnn(config, data, runs, seed, args.rounds))
        times = [t for per in seconds for t in per]
        print(f"engine runs: {len(times)}, median {np.median(times):.1f} s "
              f"(train + predict + out-of-sample + suspects)")
    summary = report(res)
    if args.plot:
        plot(res, Path(args.plot))
    if args.json:
        args.json.write_text(json.dumps({"labels": res.labels, "summary": summary,
                                         "curves": {f"{m} | {c}": v for (m, c), v in
                                                    res.curves.items()}}, indent=1))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
