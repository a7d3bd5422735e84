"""Shared fixtures: small datasets and stores made inside each test."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"


def make_images(root: Path, count: int, size: tuple[int, int] = (32, 24)) -> list[str]:
    """Write ``count`` distinct small PNGs under ``root``; return their relative paths."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        rel = f"img{i:03d}.png"
        Image.new("RGB", size, (i * 7 % 256, i * 13 % 256, i * 29 % 256)).save(root / rel)
        paths.append(rel)
    return paths


@pytest.fixture(autouse=True)
def _no_labeler_left_running():
    """A pty test that fails before closing its app must not leave the labeler running; and
    an app made in a test (``LabelApp`` installs ``tui_label.tui.widgets.sgr``'s line renderer,
    for the process) leaves Textual's own renderer to the next test."""
    yield
    from tests import pty_app

    pty_app.kill_leftovers()
    if "tui_label.tui.widgets.sgr" in sys.modules:
        sys.modules["tui_label.tui.widgets.sgr"].uninstall()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_images(root, 12)
    return root


@pytest.fixture
def store(tmp_path: Path, dataset: Path) -> Store:
    s = Store(tmp_path / "labels.db", annotator="tester")
    s.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3")])
    s.sync_images(scan(dataset))
    yield s
    s.close()


def sample_store(db: Path, per_class: int) -> Store:
    """A store on the bundled digits with ``per_class`` images of each digit labeled from the
    ground truth (the rest unlabeled)."""
    import csv

    store = Store(db, annotator="truth")
    store.set_classes([ClassSpec(str(d), str(d)) for d in range(10)])
    store.sync_images(scan(SAMPLE_DATA))
    store.set_setting("root", str(SAMPLE_DATA.resolve()))
    class_ids = {c.name: c.id for c in store.classes()}
    image_ids = {i.path: i.id for i in store.queue("all")}
    taken: dict[str, int] = {}
    with open(SAMPLE_DATA / "ground_truth.csv") as f:
        for row in csv.DictReader(f):
            if taken.get(row["label"], 0) < per_class:
                taken[row["label"]] = taken.get(row["label"], 0) + 1
                store.label(image_ids[row["path"]], class_ids[row["label"]])
    return store


# --- the `torch` marker ----------------------------------------------------------------------
# Tests that need torch carry the `torch` mark: every test in a module that imports torch at
# module level (itself or through another test module), plus explicit marks on tests that start
# the trainer. CI runs `pytest -m "not torch"` under other Pythons in a venv without torch.

_MODULE_IMPORT = re.compile(r"^(?:import|from)\s+(torch|torchvision|tests\.(\w+))\b", re.M)


@functools.cache
def imports_torch(path: Path) -> bool:
    """Whether the test module at ``path`` imports torch at module level, directly or through
    the test modules it imports."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        module = todo.pop()
        if module in seen or not module.is_file():
            continue
        seen.add(module)
        for match in _MODULE_IMPORT.finditer(module.read_text(encoding="utf-8")):
            if match.group(2) is None:
                return True
            todo.append(module.parent / f"{match.group(2)}.py")
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Without torch such a module cannot even be imported; `-m "not torch"` would deselect all
    # of its tests anyway, so it is left out of collection.
    if (collection_path.suffix == ".py" and "not torch" in (config.option.markexpr or "")
            and importlib.util.find_spec("torch") is None and imports_torch(collection_path)):
        return True
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if imports_torch(item.path):
            item.add_marker(pytest.mark.torch)
