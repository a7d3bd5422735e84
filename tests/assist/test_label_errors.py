"""Suspect ranking: hand-worked and constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tui_label.assist.live_head import fit_predict_oof
from tui_label.assist.suspects import confident_learning_issues, rank_suspects

# Hand-worked: thresholds t0 = mean(.8, .6, .1) = .5, t1 = mean(.7, .5) = .6, t2 = .4.
HAND_LABELS = np.array([0, 0, 0, 1, 1, 2])
HAND_PROBS = np.array([
    [0.8, 0.1, 0.1],  # confidently 0 (0.8 >= .5): agrees
    [0.6, 0.3, 0.1],  # confidently 0: agrees
    [0.1, 0.7, 0.2],  # confidently 1 only (0.7 >= .6): labeled 0 -> issue, self-confidence .1
    [0.2, 0.7, 0.1],  # confidently 1: agrees
    [0.3, 0.5, 0.2],  # above no threshold: not in the confident joint, not an issue
    [0.5, 0.1, 0.4],  # confidently 0 and 2, 0 more so: labeled 2 -> issue, self-conf .4
])


def test_confident_learning_by_hand():
    assert confident_learning_issues(HAND_LABELS, HAND_PROBS).tolist() == [2, 5]


def test_confident_learning_ranks_by_self_confidence_and_keeps_ties_in_row_order():
    labels = np.array([0, 0, 1, 1, 0, 1])
    probs = np.array([[.9, .1], [.2, .8], [.1, .9], [.8, .2], [.2, .8], [.95, .05]])
    # t0 = mean(.9, .2, .2) = .433, t1 = mean(.9, .2, .05) = .383: rows 1, 4 (labeled 0, p1 .8)
    # and 3, 5 (labeled 1, p0 .8 and .95) are issues; self-confidence .2, .2, .2, .05.
    assert confident_learning_issues(labels, probs).tolist() == [5, 1, 3, 4]


def test_confident_learning_empty():
    assert confident_learning_issues(np.array([], int), np.zeros((0, 2))).tolist() == []


def flipped_case(seed=0, n_per=40, classes=4, flips=6):
    """Out-of-sample probabilities that are right but unsure (true class .7 to 1) with
    ``flips`` labels flipped on images the model is sure of (true class .9 to 1): confident
    learning flags an image only when it is confidently another class."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(classes), n_per)
    labels = truth.copy()
    flipped = rng.choice(len(truth), flips, replace=False)
    labels[flipped] = (truth[flipped] + 1 + rng.integers(0, classes - 1, flips)) % classes
    top = rng.uniform(0.7, 1.0, len(truth))
    top[flipped] = rng.uniform(0.9, 1.0, flips)
    probs = rng.dirichlet(np.ones(classes - 1), size=len(truth)) * (1 - top)[:, None]
    probs = np.insert(probs, 0, top, axis=1)  # column 0 holds the true class's share...
    for i, t in enumerate(truth):  # ...moved to the true class's column
        probs[i, [0, t]] = probs[i, [t, 0]]
    return truth, labels, probs, flipped


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_suspects_finds_the_flipped_labels_first(seed):
    truth, labels, probs, flipped = flipped_case(seed)
    ids = np.arange(len(labels)) + 100
    class_ids = [11, 12, 13, 14]
    rows = rank_suspects(labels, probs, ids, class_ids)
    assert {r["image_id"] for r in rows[:len(flipped)]} == set((flipped + 100).tolist())
    assert [r["rank"] for r in rows] == list(range(len(rows)))
    for r in rows[:len(flipped)]:
        i = r["image_id"] - 100
        assert r["given_class"] == class_ids[labels[i]]
        assert r["predicted_class"] == class_ids[truth[i]]
        assert r["probability"] == pytest.approx(probs[i, truth[i]])
        assert r["given_probability"] == pytest.approx(probs[i, labels[i]])
    given = [r["given_probability"] for r in rows]
    assert given == sorted(given)  # self-confidence, lowest first


def test_rank_suspects_on_out_of_sample_probabilities_of_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 0]])
    truth = np.repeat(np.arange(3), 30)
    x = (centres[truth] + rng.normal(size=(90, 3))).astype(np.float32)
    labels = truth.copy()
    labels[[4, 40, 77]] = [1, 2, 0]
    oof = fit_predict_oof(x, labels, 3, C=1.0)
    rows = rank_suspects(labels, oof, np.arange(90), [0, 1, 2])
    assert {r["image_id"] for r in rows[:3]} == {4, 40, 77}
    assert [r["predicted_class"] for r in rows[:3]] == [truth[r["image_id"]] for r in rows[:3]]


def test_a_label_whose_top_class_is_another_is_a_suspect_even_below_the_thresholds():
    # 20 sure images per class, and row 60 labeled 0 whose out-of-sample top class is 1, but
    # only at 0.5: under class 1's threshold (~0.95), so confident learning does not flag it.
    labels = np.repeat(np.arange(3), 20)
    probs = np.full((60, 3), 0.025)
    probs[np.arange(60), labels] = 0.95
    labels = np.append(labels, 0)
    probs = np.vstack([probs, [0.3, 0.5, 0.2]])
    assert confident_learning_issues(labels, probs).tolist() == []
    rows = rank_suspects(labels, probs, np.arange(61), [4, 5, 6])
    assert [(r["image_id"], r["given_class"], r["predicted_class"]) for r in rows] == [(60, 4, 5)]
    assert rows[0]["probability"] == pytest.approx(0.5)
    assert rows[0]["given_probability"] == pytest.approx(0.3)


def test_one_class_present_gives_no_suspects():
    probs = np.array([[0.1, 0.9], [0.9, 0.1], [0.5, 0.5]])
    assert rank_suspects(np.array([0, 0, 0]), probs, [1, 2, 3], [5, 6]) == []


def test_no_labels_gives_no_suspects():
    assert rank_suspects(np.array([], int), np.zeros((0, 3)), [], [1, 2, 3]) == []


def test_a_class_with_one_label_does_not_stop_the_ranking():
    truth, labels, probs, flipped = flipped_case(0, classes=3, flips=3)
    labels = np.append(labels, 3)  # a fourth class with a single label
    probs = np.vstack([np.hstack([probs * 0.99, np.full((len(probs), 1), 0.01)]),
                       [0.05, 0.05, 0.05, 0.85]])
    rows = rank_suspects(labels, probs, np.arange(len(labels)), [1, 2, 3, 4])
    assert {r["image_id"] for r in rows[:3]} == set(flipped.tolist())


def test_columns_without_labels_are_left_out():
    # Class 2 has no label (a class added after these images were labeled): the ranking sees
    # two columns, renormalised, and the ranking is the two-class one.
    truth, labels, probs, flipped = flipped_case(1, classes=2, flips=3)
    wide = np.hstack([probs * 0.8, np.full((len(probs), 1), 0.2)])
    rows = rank_suspects(labels, wide, np.arange(len(labels)), [7, 8, 9])
    assert {r["image_id"] for r in rows[:3]} == set(flipped.tolist())
    assert {r["predicted_class"] for r in rows[:3]} <= {7, 8}


def test_a_class_that_is_gone_is_never_given_or_predicted():
    truth, labels, probs, flipped = flipped_case(2, classes=3, flips=4)
    rows = rank_suspects(labels, probs, np.arange(len(labels)), [1, None, 3])
    assert rows
    assert all(r["given_class"] in (1, 3) and r["predicted_class"] in (1, 3) for r in rows)
    assert not {r["image_id"] for r in rows} & set(np.flatnonzero(labels == 1).tolist())


def test_rows_of_zeros_do_not_break_the_ranking():
    truth, labels, probs, flipped = flipped_case(0)
    probs[0] = 0
    rows = rank_suspects(labels, probs, np.arange(len(labels)), [1, 2, 3, 4])
    assert {r["image_id"] for r in rows[:len(flipped)]} >= set(flipped.tolist()) - {0}


def test_hand_case_through_rank_suspects():
    rows = rank_suspects(HAND_LABELS, HAND_PROBS, [10, 11, 12, 13, 14, 15], [1, 2, 3])
    assert [r["image_id"] for r in rows] == [12, 15]
    assert [r["predicted_class"] for r in rows] == [2, 1]


def test_a_tie_with_the_given_label_is_not_a_suspect():
    labels = np.array([0] * 5 + [1] * 5)
    probs = np.array([[0.9, 0.1]] * 5 + [[0.1, 0.9]] * 4 + [[0.5, 0.5]])
    assert rank_suspects(labels, probs, np.arange(10), [1, 2]) == []


def test_limit():
    _, labels, probs, flipped = flipped_case(0)
    rows = rank_suspects(labels, probs, np.arange(len(labels)), [1, 2, 3, 4], limit=2)
    assert len(rows) == 2


@pytest.mark.parametrize("labels, probs, ids, class_ids, message", [
    ([0, 1], [[1, 0], [0, 1]], [1], [1, 2], "do not match"),
    ([0, 1], [[1, 0], [0, 1]], [1, 2], [1, 2, 3], "do not match"),
    ([0, 2], [[1, 0], [0, 1]], [1, 2], [1, 2], "column indices"),
])
def test_bad_input(labels, probs, ids, class_ids, message):
    with pytest.raises(ValueError, match=message):
        rank_suspects(np.array(labels), np.array(probs, float), ids, class_ids)
