"""How unsure a model is of each row of a probability array (rows: images, columns: classes).

The uncertainty orders rank by these, and a run's stored predictions record them.
"""

from __future__ import annotations

from typing import Any


def least_confidence(probs: Any) -> Any:
    """1 - the top probability: higher is less sure."""
    import numpy as np  # heavy: the labeler starts without numpy

    return 1.0 - np.max(probs, axis=1)


def margin(probs: Any) -> Any:
    """Top minus second probability: smaller is less sure."""
    import numpy as np  # heavy: the labeler starts without numpy

    if probs.shape[1] < 2:
        return np.ones(len(probs))
    top2 = -np.partition(-np.asarray(probs, dtype=np.float64), 1, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


def entropy(probs: Any) -> Any:
    """Shannon entropy in nats: higher is less sure."""
    import numpy as np  # heavy: the labeler starts without numpy

    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)
