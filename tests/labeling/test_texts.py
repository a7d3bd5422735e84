"""The labeler's texts as pure functions: states, the status label, the order, the end."""

from __future__ import annotations

from tui_label.core.orders import OrderChoice
from tui_label.core.types import ClassRow, ImageState
from tui_label.labeling import texts

NAMES = texts.ClassNames.of([ClassRow(1, "cat", "1", 1), ClassRow(2, "dog", "2", 0),
                             ClassRow(3, "[b]old", None, 2)])


def test_class_names_follow_the_legend_order():
    assert NAMES.join({1, 2}) == "dog, cat"  # dog's position comes first
    assert NAMES.join(frozenset()) == "none"
    assert NAMES.join({9}) == "?"


def test_state_text_is_plain():
    assert texts.state_text(ImageState(), NAMES) == "unlabeled"
    assert texts.state_text(ImageState.of("skip"), NAMES) == "skipped"
    assert texts.state_text(ImageState.of("label", 3), NAMES) == "→ [b]old"  # no markup


def test_label_text_shows_the_toggled_set_only_while_it_differs():
    cat = ImageState.of("label", 1)
    assert texts.label_text(cat, NAMES) == "→ cat"  # single-label mode: no toggles
    assert texts.label_text(cat, NAMES, frozenset({1})) == "→ cat"
    assert texts.label_text(ImageState(), NAMES, frozenset()) == \
        "unlabeled · class keys toggle, ⏎ saves"
    assert texts.label_text(cat, NAMES, frozenset({1, 2})) == \
        "→ cat · toggled: dog, cat (⏎ saves)"
    assert texts.label_text(cat, NAMES, frozenset()) == "→ cat · toggled: none (⏎ saves)"


def test_describe_order_names_the_model_of_a_model_order():
    names = dict(NAMES.names)
    assert texts.describe_order(OrderChoice("class", 2), names) == "Labeled as dog"
    assert texts.describe_order(OrderChoice("unlabeled"), names, "run 3") == "Unlabeled first"
    assert texts.describe_order(OrderChoice("least-confident"), names, "run 3") == \
        "Least confident first · run 3"
    assert texts.describe_order(OrderChoice("least-confident"), names) == \
        "Least confident first"


def test_end_message_says_what_is_left():
    assert texts.end_message(0, 5).startswith("No images in this view.")
    end = texts.end_message(3, 5)
    assert end.startswith("End of this view: 5 image(s) left unlabeled.")
    assert "o chooses another view" in end
