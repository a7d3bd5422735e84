"""Metrics against values computed by hand."""

from __future__ import annotations

import pytest

from tui_label.runs.metrics import Report, confusion_matrix, report


def test_confusion_matrix_counts_true_by_predicted():
    assert confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3) == [
        [1, 1, 0],
        [0, 1, 0],
        [1, 0, 2],
    ]


def test_report_matches_hand_computed_values():
    # true\pred   a  b  c
    #     a       5  2  0      support 7
    #     b       1  3  1      support 5
    #     c       0  0  4      support 4
    r = report([[5, 2, 0], [1, 3, 1], [0, 0, 4]], ["a", "b", "c"])
    assert r.accuracy == pytest.approx(12 / 16)
    a, b, c = r.per_class
    assert (a.precision, a.recall, a.support) == (pytest.approx(5 / 6), pytest.approx(5 / 7), 7)
    assert a.f1 == pytest.approx(2 * (5 / 6) * (5 / 7) / (5 / 6 + 5 / 7))  # 10/13
    assert (b.precision, b.recall) == (pytest.approx(3 / 5), pytest.approx(3 / 5))
    assert b.f1 == pytest.approx(0.6)
    assert (c.precision, c.recall) == (pytest.approx(4 / 5), 1.0)
    assert c.f1 == pytest.approx(8 / 9)
    assert r.macro_f1 == pytest.approx((10 / 13 + 0.6 + 8 / 9) / 3)


def test_never_predicted_class_has_zero_precision_not_an_error():
    r = report([[2, 0], [2, 0]], ["x", "y"])
    assert r.per_class[1].precision == 0.0 and r.per_class[1].recall == 0.0
    assert r.per_class[1].f1 == 0.0
    assert r.macro_f1 == pytest.approx((2 * 0.5 * 1 / 1.5 + 0) / 2)


def test_class_absent_from_validation_is_left_out_of_macro_f1():
    r = report([[3, 0, 0], [0, 1, 0], [0, 0, 0]], ["a", "b", "c"])
    assert r.per_class[2].support == 0
    assert r.macro_f1 == pytest.approx(1.0)


def test_empty_matrix():
    r = report([[0, 0], [0, 0]], ["a", "b"])
    assert r.accuracy == 0.0 and r.macro_f1 == 0.0


def test_round_trip_through_dict():
    r = report([[1, 1], [0, 2]], ["a", "b"])
    assert Report.from_dict(r.to_dict()) == r
