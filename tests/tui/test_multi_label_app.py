"""Multi-label mode in the labeler: class keys toggle, enter saves the set and moves on."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.app import labels_by_path, make_app, wait_shown
from tests.helpers.queue import queue_of
from tui_label.config.labeler import load_config_settings
from tui_label.core.orders import OrderChoice
from tui_label.core.types import ImageState
from tui_label.labeling.session import LabelSession
from tui_label.labeling.startup import prepare
from tui_label.store import Store
from tui_label.tui.screens.help import HelpScreen
from tui_label.tui.widgets.legend import Legend


def ids(store: Store) -> dict[str, int]:
    return {c.name: c.id for c in store.classes()}


def multi(store: Store) -> Store:
    store.set_multi_label()
    return store


def test_toggles_write_nothing_until_the_set_is_committed(store: Store):
    c = ids(multi(store))
    session = LabelSession(store, OrderChoice("all"))
    session.load()
    first = session.current.id
    assert not session.toggle(c["cat"]).moved
    session.toggle(c["dog"])
    session.toggle(c["cat"])  # off again
    assert store.last_event_id() == 0
    change = session.commit_set(ms_on_screen=50)
    assert change.moved and change.after == ImageState("label", frozenset({c["dog"]}))
    assert store.current(first) == ImageState("label", frozenset({c["dog"]}))
    assert session.counts.per_class == {c["dog"]: 1} and session.counts.labeled == 1


def test_enter_with_nothing_toggled_labels_no_class(store: Store):
    multi(store)
    session = LabelSession(store, OrderChoice("all"))
    session.load()
    first = session.current.id
    session.commit_set()
    assert store.current(first) == ImageState("label", frozenset())
    assert session.state_text(store.current(first)) == "→ none"


def test_a_saved_set_is_the_start_of_new_toggles_and_undo_restores_it(store: Store):
    c = ids(multi(store))
    session = LabelSession(store, OrderChoice("all"))
    session.load()
    first = session.current.id
    session.toggle(c["cat"])
    session.toggle(c["bird"])
    session.commit_set()
    session.move(-1)
    session.toggle(c["bird"])  # edit the saved {cat, bird}: bird off
    assert session.label_text(first, store.current(first)) == \
        "→ cat, bird · toggled: cat (⏎ saves)"
    session.commit_set()
    assert store.current(first).classes == {c["cat"]}
    session.undo()
    assert session.current.id == first
    assert store.current(first).classes == {c["cat"], c["bird"]}
    assert session.toggled(first, store.current(first)) == {c["cat"], c["bird"]}
    assert session.counts.per_class == {c["cat"]: 1, c["bird"]: 1}


def test_toggles_of_an_image_left_unsaved_do_not_follow_to_the_next(store: Store):
    c = ids(multi(store))
    session = LabelSession(store, OrderChoice("all"))
    session.load()
    session.toggle(c["cat"])
    session.move(1)
    second = session.current.id
    assert session.toggled(second, store.current(second)) == frozenset()
    session.commit_set()
    assert store.current(second).classes == frozenset()


def test_the_flag_or_the_toml_switch_the_database_for_good(tmp_path: Path, dataset: Path):
    db = tmp_path / "m.db"
    ready = prepare(dataset, db, "cat,dog", "unlabeled", multi_label=True)
    assert ready.store.multi_label
    ready.store.close()
    again = prepare(dataset, db, None, "unlabeled")  # no flag: the database remembers
    assert again.store.multi_label
    again.store.close()
    (dataset / "tui-label.toml").write_text('classes = ["a", "b"]\nmulti_label = true\n')
    assert load_config_settings(dataset / "tui-label.toml").multi_label
    other = prepare(dataset, tmp_path / "n.db", None, "unlabeled")
    assert other.store.multi_label
    other.store.close()


async def test_keys_toggle_enter_saves_and_the_legend_marks_the_set(store: Store,
                                                                     dataset: Path):
    multi(store)
    app = make_app(store, dataset)
    async with app.run_test(size=(120, 32)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("1", "3")
        await pilot.pause()
        legend = screen.query_one(Legend).render()
        status = str(screen.query_one("#image-line").render())
        assert "toggled: cat, bird (⏎ saves)" in status
        assert store.last_event_id() == 0  # nothing saved yet
        assert screen.session.pos == 0
        marked = {legend.plain[span.start:span.end] for span in legend.spans
                  if getattr(span.style, "reverse", False)}
        assert marked == {"[1] cat (0)", "[3] bird (0)"}
        await pilot.press("enter")
        await wait_shown(pilot, screen, 1)
        await pilot.press("2", "enter")
        await wait_shown(pilot, screen, 2)
        await pilot.press("enter")  # nothing toggled: no class applies
        await wait_shown(pilot, screen, 3)
        await pilot.press("a")  # not accept here (no suggestions in multi-label mode)
        await pilot.pause()
        assert screen.session.pos == 3
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "add or remove cat" in str(app.screen.query_one("#help-keys").render())
    assert labels_by_path(store) == {"img000.png": "cat;bird", "img001.png": "dog",
                                     "img002.png": None}
    assert store.current(queue_of(store, "all")[2].id) == ImageState("label", frozenset())
