"""Import contracts: headless modules never import textual, the labeler never imports torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

from tests.helpers.imports import imported_after


def every_module() -> list[str]:
    """Every module of the package, found by walking it: a new module is checked unasked."""
    import tui_label

    return sorted(m.name for m in pkgutil.walk_packages(tui_label.__path__, "tui_label.")
                  if not m.name.endswith("__main__"))


def torch_side(module: str) -> bool:
    return module == "tui_label.trainer" or module.startswith("tui_label.trainer.")


def ui_side(module: str) -> bool:
    return module == "tui_label.tui" or module.startswith("tui_label.tui.")


# Importing a trainer module needs torch; it must still never pull in textual.
HEADLESS = [pytest.param(m, marks=pytest.mark.torch) if torch_side(m) else m
            for m in every_module() if not ui_side(m)]
LABELER = [m for m in every_module() if not torch_side(m)]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_import_textual(module: str):
    assert "textual" not in imported_after(module)


@pytest.mark.parametrize("module", LABELER)
def test_labeler_does_not_import_torch(module: str):
    loaded = imported_after(module)
    assert "torch" not in loaded and "torchvision" not in loaded


@pytest.mark.torch
def test_a_small_cnn_run_does_not_import_torchvision(tmp_path):
    # torchvision costs about a second of every run's start; small-cnn does not need it.
    from tests.helpers.training import make_db

    root, db, _ = make_db(tmp_path, per_class=4)
    code = ("import sys, io\n"
            "from pathlib import Path\n"
            "from tui_label.trainer.run import train\n"
            "from tui_label.runs.emit import Emitter\n"
            "from tui_label.runs.options import TrainOptions\n"
            f"opts = TrainOptions(db=Path({str(db)!r}), root=Path({str(root)!r}), epochs=1,\n"
            "                    image_size=16, batch_size=8, device='cpu', events='json')\n"
            "assert train(opts, Emitter('json', io.StringIO())) == 0\n"
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "False"
    # A torchvision model still gets it, and an unknown name still gets its hint.
    from tui_label.errors import UsageError
    from tui_label.trainer.models import build_model

    assert type(build_model("resnet18", 3, pretrained=False)).__name__ == "ResNet"
    with pytest.raises(UsageError, match="did you mean resnet18"):
        build_model("resnet1", 3, pretrained=False)
