"""A run's predictions as arrays beside the run: what the model thinks of every image.

Files in ``<database>-runs/run-N/predictions/`` (numpy ``.npy``, opened memory-mapped so a
million images cost no RAM until read):

- ``ids.npy``: int64 image ids, ascending; row ``k`` of every other array is image ``ids[k]``;
- ``probs.npy``: float32 ``N x C`` class probabilities (columns in the run's class order);
- ``embeddings.npy``: float16 ``N x D`` penultimate-layer features;
- ``oof_ids.npy`` / ``oof_probs.npy``: out-of-sample probabilities of the labeled images
  (cross-validated: the model that gave them never saw that image's label);
- ``classes.json``: the run's class names, in column order.

Numpy only: no torch, no textual. The trainer writes these; the labeler reads them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tui_label.core.uncertainty import entropy, margin

TOP_K = 5


def predictions_dir(run_dir: Path) -> Path:
    return run_dir / "predictions"


@dataclass
class PredictionSet:
    """Probabilities (and embeddings) of a set of images, rows in ``ids`` order."""

    ids: np.ndarray  # int64, ascending
    probs: np.ndarray  # float32 N x C
    class_names: list[str]
    embeddings: np.ndarray | None = None  # float16 N x D
    oof_ids: np.ndarray | None = None
    oof_probs: np.ndarray | None = None

    def rows_of(self, image_ids: np.ndarray) -> np.ndarray:
        """Row index of each image id, -1 where the image has no prediction."""
        image_ids = np.asarray(image_ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, image_ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        found = (len(self.ids) > 0) & (self.ids[pos] == image_ids) if len(self.ids) else \
            np.zeros(len(image_ids), dtype=bool)
        return np.where(found, pos, -1)

    def save(self, folder: Path) -> None:
        """Write every array atomically (temp name, then rename), ids last."""
        folder.mkdir(parents=True, exist_ok=True)
        order = np.argsort(self.ids, kind="stable")
        arrays = {"probs": self.probs[order].astype(np.float32)}
        if self.embeddings is not None:
            arrays["embeddings"] = self.embeddings[order].astype(np.float16)
        if self.oof_ids is not None and self.oof_probs is not None:
            oof_order = np.argsort(self.oof_ids, kind="stable")
            arrays["oof_ids"] = self.oof_ids[oof_order].astype(np.int64)
            arrays["oof_probs"] = self.oof_probs[oof_order].astype(np.float32)
        arrays["ids"] = self.ids[order].astype(np.int64)
        _write_text(folder / "classes.json", json.dumps(self.class_names))
        for name, array in arrays.items():
            tmp = folder / f".{name}.tmp.npy"
            np.save(tmp, array)
            os.replace(tmp, folder / f"{name}.npy")

    @classmethod
    def load(cls, folder: Path) -> PredictionSet:
        """Open the arrays memory-mapped. Raises ``FileNotFoundError`` or ``ValueError`` when
        they are missing, or damaged, or disagree in length."""
        ids = np.load(folder / "ids.npy", mmap_mode="r")
        probs = np.load(folder / "probs.npy", mmap_mode="r")
        names = json.loads((folder / "classes.json").read_text())
        emb = _optional(folder / "embeddings.npy")
        oof_ids, oof_probs = _optional(folder / "oof_ids.npy"), _optional(folder / "oof_probs.npy")
        if probs.shape != (len(ids), len(names)) or (emb is not None and len(emb) != len(ids)):
            raise ValueError(f"the predictions in {folder} do not fit together")
        if (oof_ids is None) != (oof_probs is None) or (
                oof_ids is not None and oof_probs is not None
                and oof_probs.shape != (len(oof_ids), len(names))):
            raise ValueError(f"the out-of-sample predictions in {folder} do not fit together")
        return cls(ids, probs, names, emb, oof_ids, oof_probs)


def _optional(path: Path) -> np.ndarray | None:
    return np.load(path, mmap_mode="r") if path.exists() else None


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def top_k_rows(ids: np.ndarray, probs: np.ndarray, class_ids: list[int | None],
               k: int = TOP_K) -> list[dict]:
    """Rows for ``Store.save_predictions``: each image's top ``k`` classes (as today's class
    ids; a class that no longer exists is ``None`` and left out of ``top_k``)."""
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    margins, entropies = margin(probs), entropy(probs)
    rows = []
    for n, image_id in enumerate(np.asarray(ids).tolist()):
        top = [(class_ids[c], float(probs[n, c])) for c in order[n].tolist()]
        known = [(c, p) for c, p in top if c is not None]
        rows.append({"image_id": image_id, "class_id": top[0][0],
                     "probability": top[0][1], "margin": float(margins[n]),
                     "entropy": float(entropies[n]), "top_k": known})
    return rows
