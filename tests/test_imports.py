"""Import contracts: headless modules never import textual, the labeler never imports torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEADLESS = ["tui_label.media.scan", "tui_label.media.decode", "tui_label.store", "tui_label.config.settings",
            "tui_label.core.keys", "tui_label.config.paths", "tui_label.cli.main", "tui_label.labeling.session",
            "tui_label.core.orders", "tui_label.labeling.jobs", "tui_label.tui.quiet_gc",
            "tui_label.runs.state", "tui_label.runs.metrics", "tui_label.runs.options",
            pytest.param("tui_label.trainer.engine", marks=pytest.mark.torch),
            "tui_label.dataio.export", "tui_label.labeling.startup", "tui_label.runs.writes",
            "tui_label.dataio.importing", "tui_label.cli.import_",
            "tui_label.cli.train", "tui_label.cli.predict", "tui_label.assist.model_view",
            "tui_label.runs.resume", "tui_label.dataio.stats", "tui_label.cli.stats",
            "tui_label.terminal.probe", "tui_label.config.fidelity", "tui_label.terminal.sixel", "tui_label.terminal.kitty",
            pytest.param("tui_label.trainer.predict", marks=pytest.mark.torch)]
LABELER = ["tui_label.cli.main", "tui_label.tui.app", "tui_label.tui.screens.label", "tui_label.labeling.session",
           "tui_label.core.orders", "tui_label.store", "tui_label.labeling.jobs",
           "tui_label.runs.writes", "tui_label.cli.train", "tui_label.runs.options",
           "tui_label.cli.predict", "tui_label.assist.model_view", "tui_label.runs.resume",
           "tui_label.tui.screens.stats"]


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


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
    from tests.test_train_engine import make_db

    root, db, _ = make_db(tmp_path, per_class=4)
    code = ("import sys, io\n"
            "from pathlib import Path\n"
            "from tui_label.trainer.engine import train\n"
            "from tui_label.runs.events import Emitter\n"
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
