"""Typed trainer events: what the trainer writes parses to one dataclass per kind, in one place."""

from __future__ import annotations

import io
import json

import pytest

from tui_label.runs.emit import Emitter
from tui_label.runs.events import (
    KINDS,
    Epoch,
    EventError,
    Finished,
    Started,
    Step,
    parse,
    parse_line,
)
from tui_label.runs.metrics import report


def test_every_kind_written_reads_back_as_its_dataclass_with_its_fields():
    out = io.StringIO()
    emitter = Emitter("json", out)
    emitter.run_id = 5
    rep = report([[3, 1], [0, 4]], ["cat", "dog"])
    emitter.emit("started", model="small-cnn", device="cpu", classes=["cat", "dog"],
                 num_train=8, num_val=8, epochs=2, steps=1, precision="fp32",
                 config={"epochs": 2}, decoded=16, prepared_s=0.5)
    emitter.emit("step", epoch=1, epochs=2, step=1, steps=1, loss=0.7, images_per_sec=80.0,
                 eta_s=1.0)
    emitter.emit("epoch", epoch=1, epochs=2, train_loss=0.7, val_loss=0.6, seconds=0.2,
                 images_per_sec=40.0, **rep.to_dict())
    emitter.emit("finished", best_accuracy=rep.accuracy, best_checkpoint="best.pt")
    started, step, epoch, finished = (parse_line(line) for line in out.getvalue().splitlines())
    assert isinstance(started, Started) and started.run_id == 5
    assert (started.classes, started.decoded, started.config) == (["cat", "dog"], 16,
                                                                  {"epochs": 2})
    assert isinstance(step, Step) and step.position == 1.0 and step.gpu_memory_mb is None
    assert isinstance(epoch, Epoch) and epoch.report == rep  # the flat fields, as a Report
    assert epoch.report.confusion == [[3, 1], [0, 4]] and epoch.report.accuracy == 7 / 8
    assert isinstance(finished, Finished) and finished.best_checkpoint == "best.pt"
    assert finished.time > 0


def test_a_kind_unknown_here_is_none_and_a_known_one_without_its_fields_an_error():
    assert parse({"event": "from-a-newer-trainer", "run_id": 1}) is None
    assert parse({"no": "kind"}) is None
    with pytest.raises(EventError, match="a step event without epoch, epochs"):
        parse({"event": "step", "step": 1})
    with pytest.raises(EventError, match="an epoch event without its metrics"):
        parse({"event": "epoch", "epoch": 1, "epochs": 1, "train_loss": 1.0, "val_loss": 1.0})
    with pytest.raises(EventError, match="not list"):
        parse([1, 2])
    # Fields a newer trainer adds are ignored, not refused.
    assert parse({"event": "warning", "message": "m", "colour": "red"}).message == "m"


def test_the_reader_of_a_line_skips_what_is_not_an_event():
    assert parse_line("Traceback (most recent call last):") is None
    assert parse_line(json.dumps({"event": "failed"})).reason is None  # reason is optional
    assert parse_line(b'{"event": "cancelled", "reason": "SIGINT"}').reason == "SIGINT"
    assert parse_line('{"event": "step"}') is None


def test_the_stored_progress_reads_as_a_step():
    progress = {"epoch": 2, "epochs": 3, "step": 5, "steps": 10, "loss": 0.25,
                "images_per_sec": 9.0, "eta_s": 4.0}
    step = parse(progress, kind="step")
    assert isinstance(step, Step) and step.position == 1.5 and step.run_id is None


def test_the_emitter_refuses_an_event_it_could_not_read_back():
    with pytest.raises(EventError):
        Emitter("json", io.StringIO()).emit("started", model="m")  # a trainer's bug, in tests
    with pytest.raises(AssertionError, match="no known kind"):
        Emitter("json", io.StringIO()).emit("startd", model="m")


def test_each_kind_has_one_class():
    assert len(KINDS) == len(set(KINDS.values())) == 15
    assert all(kind == cls.kind for kind, cls in KINDS.items())
