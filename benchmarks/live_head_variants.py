"""What else the live head could fit after 100 labels (issue 18.6): an exploration, not a feature.

    python benchmarks/live_head_variants.py [--seeds 0,1,2]

label_efficiency.py's split and run (10 of each digit held out, 10 of each drawn at random
with the seed and labeled, the panel's default run), then, on the features of all 500 digits:

* **features**: ``emb``, the run's stored embeddings (standardized), what the live head fits
  today; ``pix``, the standardized 16x16 grey thumbnails that typical first uses before any
  model (``assist.pixels``); ``emb+pix``, both side by side;
* **fits** (scikit-learn): ``lr``, a logistic regression on the labeled rows (the live head's
  kind, at C 0.1 and 1); ``self``, the same self-trained on the unlabeled rows
  (``SelfTrainingClassifier``, threshold 0.9); ``spread``, label spreading over the 10 nearest
  neighbours (cosine), which uses the unlabeled rows' layout.

Reports the held-out accuracy of each, mean over the seeds. The target of 18.6 is 0.93.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import SAMPLE_DATA, machine_line, print_table  # noqa: E402
from label_efficiency import make_store, split, train  # noqa: E402


def one_seed(seed: int) -> dict[tuple[str, str], float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler, normalize
    from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

    from tui_label.assist import pixels
    from tui_label.assist.model_view import ModelView
    from tui_label.store import Store

    held, labeled = split(10, 10, seed)
    out: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "variants.db"
        store, ids, _classes = make_store(db, labeled)
        store.close()
        train(db, [])
        store = Store(db)
        try:
            view = ModelView.load(store)
            assert view is not None, "the run stored no predictions"
            every = sorted(ids.values())
            row = {image_id: n for n, image_id in enumerate(every)}
            path_of = {image_id: path for path, image_id in ids.items()}
            emb = np.asarray(view.embeddings(every), dtype=np.float32)
        finally:
            store.close()
    thumbs, _ok = pixels.thumbnails(SAMPLE_DATA, [path_of[i] for i in every])
    y = -np.ones(len(every), dtype=int)
    for r in labeled:
        y[row[ids[r["path"]]]] = int(r["label"])
    rows = np.array([row[ids[r["path"]]] for r in held])
    truth = np.array([int(r["label"]) for r in held])
    known = y >= 0
    features = {"emb": StandardScaler().fit_transform(emb), "pix": thumbs,
                "emb+pix": np.hstack([StandardScaler().fit_transform(emb), thumbs / 4])}
    for name, x in features.items():
        for c in (0.1, 1.0):
            lr = LogisticRegression(C=c, max_iter=3000).fit(x[known], y[known])
            out[(name, f"lr, C {c:g}")] = float((lr.predict(x[rows]) == truth).mean())
            st = SelfTrainingClassifier(LogisticRegression(C=c, max_iter=3000),
                                        threshold=0.9).fit(x, y)
            out[(name, f"self, C {c:g}")] = float((st.predict(x[rows]) == truth).mean())
        spread = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.5,
                                max_iter=200).fit(normalize(x), y)
        out[(name, "spread")] = float((spread.transduction_[rows] == truth).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    print(machine_line())
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [one_seed(seed) for seed in seeds]
    table = [[name, fit, *(f"{r[(name, fit)]:.2f}" for r in runs),
              f"{sum(r[(name, fit)] for r in runs) / len(runs):.3f}"] for name, fit in runs[0]]
    print_table(["features", "fit", *(f"seed {s}" for s in seeds), "mean"], table)


if __name__ == "__main__":
    main()
