"""Classes an import creates get their keys as ``--classes`` gives them (issue 17.10)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.data import make_images
from tui_label.config.settings import ClassSpec
from tui_label.core.keys import reserved_keys
from tui_label.media.scan import scan
from tui_label.store import Store


def test_created_digit_classes_are_on_their_own_digits(tmp_path: Path):
    root = tmp_path / "data"
    make_images(root, 4)
    db = tmp_path / "labels.db"
    store = Store(db, annotator="tester")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2")])
    store.sync_images(scan(root))
    store.set_setting("root", str(root.resolve()))
    store.close()
    src = tmp_path / "in.csv"
    src.write_text("path,label\nimg000.png,9\nimg001.png,owl\nimg002.png,u\nimg003.png,0\n",
                   encoding="utf-8")
    code, _out, err = run_cli("import", str(src), "--db", str(db), "--create-classes", "--yes")
    assert code == 0, err
    store = Store(db)
    try:
        got = {c.name: c.hotkey for c in store.classes()}
    finally:
        store.close()
    assert got["9"] == "9" and got["0"] == "0"
    assert got["cat"] == "1" and got["dog"] == "2"  # stored keys stay
    # owl and u ("u" is undo) take the next free keys of the scheme.
    assert {got["owl"], got["u"]} == {"3", "4"}
    assert not set(got.values()) & set(reserved_keys())
