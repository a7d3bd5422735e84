"""Classes and hotkeys: parsing, validation, assignment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_label.config.settings import (
    ClassSpec,
    find_config,
    load_config_classes,
    parse_class_option,
    resolve_classes,
)
from tui_label.errors import UsageError


def test_hotkeys_are_assigned_digits_then_free_letters():
    specs = resolve_classes([(f"c{i}", None) for i in range(13)])
    keys = [s.key for s in specs]
    assert keys[:10] == list("1234567890")
    # a (accept) is reserved, so letters start at b; h, l, o, q, t, u are labeler keys.
    assert keys[10:] == ["b", "c", "d"]
    every = [s.key for s in resolve_classes([(f"c{i}", None) for i in range(29)])]
    assert len(set(every)) == 29
    assert not {"a", "h", "l", "o", "q", "t", "u"} & set(every)


def test_explicit_keys_are_kept_and_not_reused():
    specs = resolve_classes([("cat", None), ("dog", "1")])
    assert specs == [ClassSpec("cat", "2"), ClassSpec("dog", "1")]


@pytest.mark.parametrize(
    "entries, message",
    [
        ([], "no classes"),
        ([("cat", None), ("cat", None)], "duplicate class name 'cat'"),
        ([("cat", "c"), ("cow", "c")], "duplicate hotkey 'c'"),
        ([("cat", "q")], "clashes with the 'quit' key"),
        ([("cat", "h")], "clashes with the 'previous' key"),
        ([("cat", "cc")], "must be one letter or digit"),
        ([("", None)], "empty"),
    ],
)
def test_bad_classes_are_usage_errors(entries, message):
    with pytest.raises(UsageError, match=message):
        resolve_classes(entries)


def test_too_many_classes_for_keys():
    with pytest.raises(UsageError, match="too many classes"):
        resolve_classes([(f"c{i}", None) for i in range(40)])


def test_class_option_parsing():
    assert parse_class_option("cat, dog:d ,bird") == [("cat", None), ("dog", "d"), ("bird", None)]


def test_toml_forms(tmp_path: Path):
    path = tmp_path / "tui-label.toml"
    path.write_text('classes = ["cat", { name = "dog", key = "d" }]\n')
    assert load_config_classes(path) == [("cat", None), ("dog", "d")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("classes = [", "not valid TOML"),
        ('clases = ["a"]', "unknown setting 'clases'"),
        ('classes = "cat"', "must be a list"),
        ("classes = [1]", "each class must be"),
        ('classes = [{ name = "a", colour = "red" }]', "unknown field 'colour'"),
    ],
)
def test_bad_toml_is_usage_error(tmp_path: Path, text, message):
    path = tmp_path / "tui-label.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_config_classes(path)


def test_config_found_in_root_then_beside_db(tmp_path: Path):
    root, dbdir = tmp_path / "root", tmp_path / "dbdir"
    root.mkdir()
    dbdir.mkdir()
    assert find_config(root, dbdir / "x.db") is None
    (dbdir / "tui-label.toml").write_text("classes = ['a']")
    assert find_config(root, dbdir / "x.db") == dbdir / "tui-label.toml"
    (root / "tui-label.toml").write_text("classes = ['b']")
    assert find_config(root, dbdir / "x.db") == root / "tui-label.toml"
