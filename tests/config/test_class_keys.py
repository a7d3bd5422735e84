"""Class hotkeys (issue 17.10): a class named with one free letter or digit has it as its key,
the others get the documented scheme, and keys a database stores stay as they are."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.data import make_images
from tui_label.config.settings import ClassSpec, resolve_classes
from tui_label.core.keys import SCHEME_HELP, reserved_keys
from tui_label.labeling.startup import prepare
from tui_label.store import Store


def keys(names: list[str], stored: dict[str, str] | None = None) -> list[str]:
    return [spec.key for spec in resolve_classes([(n, None) for n in names], stored)]


def test_digit_classes_are_on_their_own_digits():
    digits = [str(d) for d in range(10)]
    assert keys(digits) == digits  # "0" was on key 1, and key 0 labeled "9"


def test_names_of_several_characters_keep_one_two_three():
    assert keys(["cat", "dog"]) == ["1", "2"]
    assert keys(["cat", "1"]) == ["2", "1"]  # "1" has its key; cat takes the next free one


def test_a_reserved_single_character_name_gets_a_scheme_key_not_its_own():
    got = keys(["u", "x", "cat", "a", "Z"])
    # u (undo) and a (accept) are the labeler's keys; x and Z are free, so they are their own.
    assert got == ["1", "x", "2", "3", "Z"]
    assert "u" not in got and "a" not in got


def test_fifteen_classes_follow_the_documented_scheme():
    got = keys([f"c{i}" for i in range(13)] + ["b", "z"])
    # 1-9, 0, then the free letters in order, b skipped: the class named "b" has it.
    assert got == [*"1234567890", "c", "d", "e", "b", "z"]
    assert not set(got) & set(reserved_keys())
    # ? and the README say which letters follow the digits: exactly the ones given, in order.
    documented = SCHEME_HELP.split("1-9, 0, then ")[1].split(" in order")[0].split()
    assert keys([f"c{i}" for i in range(29)])[10:] == documented
    assert not set(documented) & set(reserved_keys())


def test_a_stored_key_stays_and_only_new_classes_get_the_scheme(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 3)
    db = tmp_path / "labels.db"
    prepare(data, db, "cat,dog", "unlabeled").store.close()
    store = prepare(data, db, "bird,cat,dog,7", "unlabeled").store
    try:
        # bird first in the list no longer moves cat and dog off the keys they had.
        assert {c.name: c.hotkey for c in store.classes()} == {
            "cat": "1", "dog": "2", "bird": "3", "7": "7"}
    finally:
        store.close()


def test_a_database_from_the_old_scheme_keeps_its_digit_keys(tmp_path: Path):
    """Before this scheme, --classes 0,...,9 put "0" on 1 and "9" on 0: such a database keeps
    its keys (never changed silently); an explicit key still moves one."""
    data = tmp_path / "data"
    make_images(data, 3)
    db = tmp_path / "labels.db"
    store = Store(db)
    old = {str(d): str((d + 1) % 10) for d in range(10)}
    store.set_classes([ClassSpec(name, key) for name, key in old.items()])
    store.close()
    store = prepare(data, db, ",".join(old), "unlabeled").store
    try:
        assert {c.name: c.hotkey for c in store.classes()} == old
    finally:
        store.close()
    assert keys(["0", "1"], {"0": "1", "1": "2"}) == ["1", "2"]
    assert resolve_classes([("0", "0"), ("1", None)], {"0": "1", "1": "2"}) == [
        ClassSpec("0", "0"), ClassSpec("1", "2")]
