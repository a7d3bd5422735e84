"""Shared fixtures: small datasets and stores made inside each test."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from tests.helpers.data import make_images
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store


@pytest.fixture(autouse=True)
def _no_labeler_left_running():
    """A pty test that fails before closing its app must not leave the labeler running; and
    an app made in a test (``LabelApp`` installs ``tui_label.tui.widgets.sgr``'s line renderer
    through ``tui_label.tui.renderers``, for the process) leaves Textual's own renderer to the
    next test."""
    yield
    from tests.helpers import pty_app

    pty_app.kill_leftovers()
    if "tui_label.tui.renderers" in sys.modules:
        sys.modules["tui_label.tui.renderers"].uninstall_sgr()


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


# --- the `torch` marker ----------------------------------------------------------------------
# Tests that need torch carry the `torch` mark: every test in a module that imports torch at
# module level (itself or through another test module), plus explicit marks on tests that start
# the trainer. CI runs `pytest -m "not torch"` under other Pythons in a venv without torch.

# tui_label.trainer is the one package that imports torch (an import contract), so importing it
# counts as importing torch.
_MODULE_IMPORT = re.compile(
    r"^(?:import|from)\s+(torch|torchvision|tui_label\.trainer|tests\.([\w.]+))\b", re.M)
TESTS = Path(__file__).resolve().parent


@functools.cache
def imports_torch(path: Path) -> bool:
    """Whether the test module at ``path`` imports torch at module level, directly, through
    tui_label.trainer or through the test modules it imports."""
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
            todo.append(TESTS.joinpath(*match.group(2).split(".")).with_suffix(".py"))
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
