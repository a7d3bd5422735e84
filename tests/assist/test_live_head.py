"""The linear head: fit, out-of-sample probabilities, and the live head's worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tui_label.assist.live_head import LiveHead, fit, fit_predict_oof, oof_folds


def blobs(n_per: int, centres: list[list[float]], spread: float = 0.5, seed: int = 0):
    """Gaussian blobs around ``centres``; labels are the blob index."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.asarray(c) + spread * rng.normal(size=(n_per, len(c)))
                        for c in centres])
    y = np.repeat(np.arange(len(centres)), n_per)
    return x.astype(np.float32), y


def sklearn_reference(x, y, C):
    mean, std = x.mean(0), x.std(0)
    model = LogisticRegression(C=C, max_iter=1000, tol=1e-10).fit((x - mean) / std, y)
    return model, mean, std


@pytest.mark.parametrize("centres", [[[0, 0, 0], [2, 0, 1], [0, 2, -1]], [[0, 0], [1.5, 1]]],
                         ids=["three-classes", "binary"])
def test_fit_matches_scikit_learn(centres):
    x, y = blobs(30, centres, spread=1.0)
    head = fit(x, y, len(centres), C=0.5, max_iter=1000)
    model, mean, std = sklearn_reference(x, y, 0.5)
    probe = x[::7] + 0.3
    expected = model.predict_proba((probe - mean) / std)
    np.testing.assert_allclose(head.predict_proba(probe), expected, atol=2e-3)


def test_absent_classes_get_zero_columns():
    x, y = blobs(20, [[0, 0], [3, 3]])
    head = fit(x, y * 2, num_classes=4)  # labels are columns 0 and 2 of 4
    probs = head.predict_proba(x)
    assert probs.shape == (40, 4)
    assert (probs[:, [1, 3]] == 0).all()
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    assert (probs.argmax(1) == y * 2).mean() > 0.95


def test_one_class_gives_it_probability_one():
    x, _ = blobs(5, [[0, 0]])
    probs = fit(x, np.full(5, 1), num_classes=3).predict_proba(x + 10)
    np.testing.assert_array_equal(probs, np.tile([0, 1, 0], (5, 1)).astype(np.float32))


def test_float16_and_constant_features():
    x, y = blobs(20, [[0, 0], [3, 3]])
    x = np.hstack([x, np.ones((40, 1), np.float32)]).astype(np.float16)  # a dead unit
    probs = fit(x, y, 2).predict_proba(x)
    assert np.isfinite(probs).all() and (probs.argmax(1) == y).all()


def test_warm_start_reaches_the_cold_solution():
    x, y = blobs(40, [[0, 0, 0], [1, 0, 1], [0, 1, -1]], spread=1.0)
    cold = fit(x, y, 3, max_iter=1000)
    first = fit(x[:100], y[:100], 3, max_iter=1000)
    warm = fit(x, y, 3, max_iter=1000, warm=first)
    np.testing.assert_allclose(warm.predict_proba(x), cold.predict_proba(x), atol=2e-3)


@pytest.mark.parametrize("labels, folds, expected", [
    ([0] * 10 + [1] * 10, 5, 5),
    ([0] * 10 + [1] * 3, 5, 3),
    ([0] * 10 + [1], 5, 2),   # a class of one label: still 2 folds
    ([0] * 10 + [2] * 4, 3, 3),  # an unused column does not count as a class of 0
])
def test_folds_follow_the_smallest_class(labels, folds, expected):
    assert oof_folds(np.array(labels), folds) == expected


def test_oof_rows_come_from_heads_that_never_saw_them():
    x, y = blobs(20, [[0, 0], [4, 4]], spread=0.5)
    y = y.copy()
    y[3] = 1  # a point in class 0's blob labeled 1
    oof = fit_predict_oof(x, y, 2, folds=5, C=1.0)
    in_sample = fit(x, y, 2, C=1.0).predict_proba(x)
    # Out of sample, the head that judged row 3 saw only class-0 points there.
    assert oof[3, 1] < 0.2
    assert in_sample[3, 1] > oof[3, 1]
    assert (oof.argmax(1)[np.arange(40) != 3] == y[np.arange(40) != 3]).all()
    np.testing.assert_allclose(oof.sum(1), 1, rtol=1e-5)


def test_oof_class_missing_from_a_training_fold_gets_zero():
    x, y = blobs(10, [[0, 0], [4, 4]])
    x = np.vstack([x, [[8, 8]]]).astype(np.float32)
    y = np.append(y, 2)  # one label of class 2: its fold's training set has no class 2
    oof = fit_predict_oof(x, y, num_classes=4)
    assert oof.shape == (21, 4)
    assert oof[20, 2] == 0 and (oof[:, 3] == 0).all()


def test_oof_is_reproducible_per_seed():
    x, y = blobs(15, [[0, 0], [1, 1], [0, 1]], spread=1.0)
    a = fit_predict_oof(x, y, 3, seed=1)
    np.testing.assert_array_equal(a, fit_predict_oof(x, y, 3, seed=1))
    assert not np.array_equal(a, fit_predict_oof(x, y, 3, seed=2))


@pytest.mark.parametrize("labels, folds, message", [
    ([0, 1, 0], 1, "2 folds"),
    ([0], 5, "2 labels"),
    ([0, 3, 1], 5, "column indices"),
])
def test_oof_bad_input(labels, folds, message):
    x = np.zeros((len(labels), 2), np.float32)
    with pytest.raises(ValueError, match=message):
        fit_predict_oof(x, np.array(labels), num_classes=3, folds=folds)


@pytest.mark.parametrize("module", ["tui_label.assist.live_head", "tui_label.assist.typiclust",
                                    "tui_label.assist.suspects"])
def test_importing_the_module_loads_no_scikit_learn_or_torch(module):
    # The labeler imports these: scikit-learn loads only where a fit runs (the worker).
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    loaded = {name.split(".")[0] for name in out}
    assert not loaded & {"sklearn", "scipy", "torch", "textual", "cleanlab"}


# -- the worker process -----------------------------------------------------------------------


def worker_facts() -> tuple[int, list[str]]:
    """Runs in the worker: its pid and which heavy packages it has loaded."""
    names = {name.split(".")[0] for name in sys.modules}
    return os.getpid(), sorted(names & {"torch", "textual", "sklearn"})


@pytest.fixture(scope="module")
def live():
    head = LiveHead(C=0.5)
    yield head
    head.close()


def test_live_head_refits_in_another_process(live, tmp_path):
    x, y = blobs(20, [[0, 0], [3, 0], [0, 3]])
    rows = np.arange(0, 60, 2)
    head, probs = live.refit(x, rows, y[rows], 3).result(timeout=60)
    expected = fit(x[rows], y[rows], 3, C=0.5).predict_proba(x)
    np.testing.assert_allclose(probs, expected, atol=1e-3)
    np.testing.assert_allclose(head.predict_proba(x), probs, atol=1e-6)

    # From a .npy file, opened memory-mapped in the worker, predicting some rows only.
    path = tmp_path / "embeddings.npy"
    np.save(path, x.astype(np.float16))
    _, some = live.refit(path, rows, y[rows], 3, query=[1, 5, 59]).result(timeout=60)
    assert some.shape == (3, 3) and (some.argmax(1) == y[[1, 5, 59]]).all()

    pid, heavy = live.call(worker_facts).result(timeout=60)
    assert pid != os.getpid()
    assert heavy == ["sklearn"]  # no torch, no textual


def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_newer_refit_cancels_a_queued_refit_but_not_a_queued_call(live):
    x, y = blobs(10, [[0, 0], [3, 3]])
    # The pool hands up to two tasks to its one worker ahead of time: three calls make sure
    # the first refit is still waiting in the pool's own queue (cancellable).
    calls = [live.call(sleepy, 0.3) for _ in range(3)]
    first = live.refit(x, np.arange(20), y, 2)
    facts = live.call(worker_facts)
    second = live.refit(x, np.arange(10, 20), y[10:], 2)
    assert [c.result(timeout=60) for c in calls] == [0.3] * 3
    assert "torch" not in facts.result(timeout=60)[1]  # ran: a refit did not cancel it
    assert first.cancelled()
    assert second.result(timeout=60)[1].shape == (20, 2)


def test_live_head_bad_rows_are_refused_before_submitting(live):
    with pytest.raises(ValueError, match="3 rows but 2 labels"):
        live.refit(np.zeros((4, 2)), [0, 1, 2], [0, 1], 2)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int) -> bool:
    for _ in range(200):
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_live_head_survives_a_dead_worker():
    x, y = blobs(10, [[0, 0], [3, 3]])
    with LiveHead() as live:
        pid, _ = live.call(worker_facts).result(timeout=60)
        os.kill(pid, signal.SIGKILL)
        assert wait_dead(pid)
        # The call in flight when the pool notices may fail; the next one gets a new worker.
        try:
            live.call(worker_facts).result(timeout=60)
        except BrokenProcessPool:
            pass
        _, probs = live.refit(x, np.arange(20), y, 2).result(timeout=60)
        assert (probs.argmax(1) == y).all()


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_close_stops_the_worker_and_a_later_refit_starts_one():
    live = LiveHead()
    pid, _ = live.call(worker_facts).result(timeout=60)
    live.close()
    live.close()  # twice is fine
    assert wait_dead(pid)
    new_pid, _ = live.call(worker_facts).result(timeout=60)
    assert new_pid != pid and alive(new_pid)
    live.close()
    assert wait_dead(new_pid)
