"""Classes and their hotkeys: from ``--classes``, a ``tui-label.toml``, or the database.

A ``tui-label.toml`` looks like either of::

    classes = ["cat", "dog", "bird"]                  # hotkeys 1, 2, 3
    classes = ["0", "1", "2"]                         # hotkeys 0, 1, 2: a one-character name
    classes = [{ name = "cat", key = "c" }, "dog"]    # explicit where given, assigned otherwise

Hotkeys are single letters or digits. A class without one keeps the key the database stores
for it; a new one named with one free letter or digit gets that key, the others 1-9, 0, then
the letters the labeler does not use itself (``tui_label.core.keys.assign_hotkeys``). Every
problem is a ``UsageError`` with a one-line message.

The labeler's settings may sit beside the classes (``tui_label.config.labeler`` defines them and
reads the file)::

    suggestions = false     # hide the model's suggestions (an unbiased pass)
    live_head_every = 20    # refit the live head after every 20 new labels (0: never)
    overlap = 0.1           # a tenth of the images goes to two annotators or more
    multi_label = true      # a set of classes per image: keys toggle, enter saves
    link = "slow"           # fewer bytes per image for a slow SSH link (see config.fidelity)
    max_pixels = 300000     # at most this many pixels per image
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tui_label.config.labeler import read_toml
from tui_label.core.keys import assign_hotkeys, reserved_keys
from tui_label.errors import UsageError

CONFIG_NAME = "tui-label.toml"
_KEY_RE = re.compile(r"^[0-9a-zA-Z]$")


@dataclass(frozen=True)
class ClassSpec:
    """One class as the user defined it: a name and its hotkey."""

    name: str
    key: str


def find_config(root: Path | None, db_path: Path | None) -> Path | None:
    """The ``tui-label.toml`` in the dataset root, else the one beside the database."""
    for folder in (root, db_path.parent if db_path else None):
        if folder is not None and (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    return None


def parse_class_option(value: str) -> list[tuple[str, str | None]]:
    """``"cat,dog:d,bird"`` -> ``[("cat", None), ("dog", "d"), ("bird", None)]``."""
    entries = []
    for part in value.split(","):
        name, colon, key = part.strip().partition(":")
        if colon and not key.strip():  # "cat:" is a key left out by mistake, not "any key"
            raise UsageError(f"--classes: no hotkey after {name.strip() + ':'!r} (give "
                             f"{name.strip() + ':K'!r}, or the name alone for the next free "
                             "key)")
        entries.append((name.strip(), key.strip() or None))
    return entries


def load_config_classes(path: Path) -> list[tuple[str, str | None]]:
    """Read the class entries of a ``tui-label.toml``."""
    data = read_toml(path)
    raw = data.get("classes")
    if not isinstance(raw, list):
        raise UsageError(f"{path}: 'classes' must be a list of names or {{name, key}} tables")
    entries: list[tuple[str, str | None]] = []
    for item in raw:
        if isinstance(item, str):
            entries.append((item, None))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            key = item.get("key")
            if key is not None and not isinstance(key, str):
                raise UsageError(f"{path}: the key of class {item['name']!r} must be a string")
            extra = sorted(set(item) - {"name", "key"})
            if extra:
                raise UsageError(f"{path}: class {item['name']!r} has unknown field {extra[0]!r}")
            entries.append((item["name"], key))
        else:
            raise UsageError(f"{path}: each class must be a name or a {{name, key}} table")
    return entries


def _given_keys(entries: list[tuple[str, str | None]], reserved: dict[str, str]) -> dict[str, str]:
    """The hotkeys the entries give (``{key: class name}``), every name and key checked."""
    names: set[str] = set()
    taken: dict[str, str] = {}
    for name, key in entries:
        if not name or not name.strip():
            raise UsageError("a class name is empty")
        if name.strip() != name:
            raise UsageError(f"class name {name!r} has leading or trailing spaces")
        if name in names:
            raise UsageError(f"duplicate class name {name!r}")
        names.add(name)
        if key is None:
            continue
        if not _KEY_RE.match(key):
            raise UsageError(f"hotkey {key!r} of class {name!r} must be one letter or digit")
        if key in reserved:
            raise UsageError(
                f"hotkey {key!r} of class {name!r} clashes with the {reserved[key]!r} key"
            )
        if key in taken:
            raise UsageError(f"duplicate hotkey {key!r} for classes {taken[key]!r} and {name!r}")
        taken[key] = name
    return taken


def resolve_classes(entries: list[tuple[str, str | None]],
                    stored: Mapping[str, str] | None = None) -> list[ClassSpec]:
    """Validate names and hotkeys and assign the missing hotkeys: a class the database already
    has keeps its ``stored`` key (``{name: key}``) unless another class asks for that key or
    the labeler took it since; a new one gets the key ``assign_hotkeys`` gives it.

    Raises:
        UsageError: no classes, an empty or duplicate name, a duplicate hotkey, a hotkey that
            is not a single letter or digit, one that clashes with a labeler key, or more
            classes than free keys.
    """
    if not entries:
        raise UsageError("no classes given: use --classes cat,dog or a tui-label.toml")
    reserved = reserved_keys()
    keys: dict[str, str | None] = {name: key for name, key in entries}
    taken = set(_given_keys(entries, reserved))
    for name, key in entries:
        kept = (stored or {}).get(name)
        if key is None and kept and kept not in taken and kept not in reserved:
            keys[name] = kept
            taken.add(kept)
    new = [name for name, key in keys.items() if key is None]
    keys.update(zip(new, assign_hotkeys(new, taken), strict=True))
    missing = [name for name in new if keys[name] is None]
    if missing:
        upper = ", ".join(sorted(k for k in reserved if k.isupper()))
        raise UsageError(
            f"too many classes for the free hotkeys: set 'key' for {missing[0]!r} and later "
            f"classes in tui-label.toml (uppercase letters other than {upper} are free)")
    return [ClassSpec(name, str(keys[name])) for name, _ in entries]
