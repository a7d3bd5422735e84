"""The `torch` marker is right: every test module that conftest.imports_torch calls torch-free
imports without torch. CI's other Pythons run `pytest -m "not torch"` in a venv without torch,
and a module that imports the trainer (tests/helpers/training.py did) broke their collection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import TESTS, imports_torch

ROOT = TESTS.parent

# Import each module with torch and torchvision unfindable, as in a venv without them.
BLOCKED = """
import importlib, importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoTorch())
failed = []
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        failed.append(f"{module}: {error}")
print("\\n".join(failed))
"""


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_every_module_called_torch_free_imports_without_torch():
    free = [module_name(p) for p in sorted(TESTS.rglob("test_*.py")) if not imports_torch(p)]
    assert len(free) > 50  # most of the suite runs without torch
    out = subprocess.run([sys.executable, "-c", BLOCKED, *free], cwd=ROOT, text=True,
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_a_module_importing_the_trainer_counts_as_importing_torch(tmp_path: Path):
    module = tmp_path / "test_x.py"
    module.write_text("from tui_label.trainer import data\n", encoding="utf-8")
    assert imports_torch(module)
    module.write_text("from tui_label.runs import events\n", encoding="utf-8")
    imports_torch.cache_clear()
    assert not imports_torch(module)
