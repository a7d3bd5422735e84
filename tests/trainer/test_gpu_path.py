"""What the CUDA path adds, checked where no GPU is: --compile wiring, the GPU status in the
step events and the panel. (The CUDA runs themselves are in BENCHMARKS.md when a GPU is lent.)"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from tests.helpers.training import make_db, opts_for, parse_events
from tui_label.runs.emit import Emitter
from tui_label.runs.events import parse
from tui_label.runs.state import RunState
from tui_label.trainer import device
from tui_label.trainer import run as trainer
from tui_label.tui.widgets.train_panel import status_text


def test_compile_wraps_the_trained_model(tmp_path: Path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=4)
    compiled = []

    def fake_compile(model):
        compiled.append(model)
        return model  # eager: the point is what is compiled, and that the run goes on

    monkeypatch.setattr(torch, "compile", fake_compile)
    out = io.StringIO()
    assert trainer.train(opts_for(root, db, epochs=1, compile=True), Emitter("json", out)) == 0
    assert len(compiled) == 1 and isinstance(compiled[0], torch.nn.Module)
    assert [e["event"] for e in parse_events(out.getvalue())][-1] == "finished"
    compiled.clear()
    assert trainer.train(opts_for(root, db, epochs=1), Emitter("json", io.StringIO())) == 0
    assert compiled == []  # off by default


def test_gpu_status_has_memory_and_utilisation_when_nvml_answers(monkeypatch):
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**30)
    monkeypatch.setattr(torch.cuda, "utilization", lambda device=None: 87)
    assert device.gpu_status(torch.device("cuda", 0)) == {"gpu_memory_mb": 3072.0,
                                                          "gpu_util": 87.0}

    def no_nvml(device=None):
        raise ModuleNotFoundError("pynvml does not seem to be installed")

    monkeypatch.setattr(torch.cuda, "utilization", no_nvml)
    assert device.gpu_status(torch.device("cuda", 0)) == {"gpu_memory_mb": 3072.0}


def test_the_panel_shows_gpu_memory_utilisation_and_processes():
    state = RunState()
    state.apply(parse({"event": "started", "run_id": 4, "model": "resnet18", "device": "cuda:0",
                 "classes": ["a", "b"], "num_train": 800, "num_val": 200, "epochs": 5,
                 "steps": 13, "world_size": 8}))
    state.apply(parse({"event": "step", "run_id": 4, "epoch": 1, "epochs": 5, "step": 3,
                       "steps": 13, "loss": 0.7, "images_per_sec": 5120.0, "eta_s": 12.0,
                 "gpu_memory_mb": 3072.0, "gpu_util": 87.0}))
    text = status_text(state).plain
    assert "cuda:0 · 8 processes (DDP)" in text
    assert "5120 img/s" in text and "GPU 3072 MiB 87%" in text


def test_the_precision_of_the_steps_is_announced_and_shown():
    from contextlib import nullcontext
    from types import SimpleNamespace

    from tui_label.runs.emit import human

    # What autocast_for gives: bf16 on GPUs that have it, fp16 on older ones, none on a CPU.
    bf16 = SimpleNamespace(autocast=torch.autocast("cpu", dtype=torch.bfloat16))
    fp16 = SimpleNamespace(autocast=torch.autocast("cpu", dtype=torch.float16))
    assert device.precision_of(bf16) == "bf16"
    assert device.precision_of(fp16) == "fp16"
    assert device.precision_of(SimpleNamespace(autocast=nullcontext())) == "fp32"
    started = {"event": "started", "run_id": 4, "model": "resnet18", "device": "cuda:0",
               "precision": "bf16", "classes": ["a", "b"], "num_train": 800, "num_val": 200,
               "epochs": 5, "steps": 13}
    assert human(parse(started)).startswith("run 4: resnet18 on cuda:0 (bf16), 800 train")
    state = RunState()
    state.apply(parse(started))
    assert "cuda:0 bf16" in status_text(state).plain
    state = RunState()
    state.apply(parse({**started, "device": "cpu", "precision": "fp32"}))
    assert " · cpu" in status_text(state).plain and "fp32" not in status_text(state).plain


def test_a_cpu_run_says_it_computes_in_fp32(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=4)
    out = io.StringIO()
    assert trainer.train(opts_for(root, db, epochs=1), Emitter("json", out)) == 0
    started = next(e for e in parse_events(out.getvalue()) if e["event"] == "started")
    assert started["precision"] == "fp32"


def test_the_split_line_with_unlabeled_images_fits_the_compact_panel():
    state = RunState()
    state.apply(parse({"event": "started", "run_id": 4, "model": "small-cnn", "device": "cpu",
                       "classes": ["a", "b"], "num_train": 80, "num_val": 20,
                       "num_unlabeled": 400, "epochs": 10, "steps": 30}))
    line = status_text(state).plain.splitlines()[1]
    # The panel's 38 columns at 80x24, less its border and padding.
    assert line == "80 train / 20 val + 400 unlabeled" and len(line) <= 34
