"""Trainer events for a person: progress bars on a terminal, plain lines anywhere else."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from tui_label.runs.emit import Emitter

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# A run as the engine sends it: train and validation images decoded, two epochs of 8 steps,
# predictions, the end.
RUN = [
    ("warning", {"message": "resnet18: no pretrained weights"}),
    ("preparing", {"done": 256, "total": 500, "decoded": 256}),
    ("preparing", {"done": 500, "total": 500, "decoded": 500}),
    ("preparing", {"done": 100, "total": 100, "decoded": 100}),
    ("started", {"model": "small", "device": "cpu", "classes": ["cat", "dog"],
                 "num_train": 500, "num_val": 100, "epochs": 2, "steps": 8, "decoded": 600,
                 "prepared_s": 3.25}),
    ("step", {"epoch": 1, "epochs": 2, "step": 4, "steps": 8, "loss": 0.5,
              "images_per_sec": 100.0, "eta_s": 12.0}),
    ("step", {"epoch": 1, "epochs": 2, "step": 8, "steps": 8, "loss": 0.25,
              "images_per_sec": 120.0, "eta_s": 8.0}),
    ("epoch", {"epoch": 1, "epochs": 2, "train_loss": 0.4, "val_loss": 0.3, "accuracy": 0.9,
               "macro_f1": 0.85, "seconds": 1.5}),
    ("checkpoint", {"path": "/runs/run-1/best.pt", "best": True, "epoch": 1}),
    ("step", {"epoch": 2, "epochs": 2, "step": 8, "steps": 8, "loss": 0.125,
              "images_per_sec": 130.0, "eta_s": 0.0}),
    ("epoch", {"epoch": 2, "epochs": 2, "train_loss": 0.2, "val_loss": 0.25, "accuracy": 0.8,
               "macro_f1": 0.75, "seconds": 1.25}),
    ("checkpoint", {"path": "/runs/run-1/last.pt", "best": False, "epoch": 2}),
    ("predicting", {"done": 0, "total": 600}),
    ("predicting", {"done": 300, "total": 600}),
    ("predicting", {"done": 600, "total": 600}),
    ("predicted", {"images": 600, "oof": 0, "suspects": 3, "seconds": 2.0,
                   "predictions": "/runs/run-1/predictions"}),
    ("finished", {"best_accuracy": 0.9, "best_checkpoint": "/runs/run-1/best.pt",
                  "last_checkpoint": "/runs/run-1/last.pt", "seconds": 4.0}),
]

LINES = [  # what the plain mode printed before the bars, and still prints
    "warning: resnet18: no pretrained weights",
    "preparing images 500/500 (500 decoded)",
    "preparing images 100/100 (100 decoded)",
    "run 1: small on cpu, 500 train / 100 validation images, 2 classes, 2 epochs; images "
    "ready in 3.2s (600 decoded)",
    "  epoch 1/2 step 4/8 loss 0.5000  100 img/s  ETA 12s",
    "  epoch 1/2 step 8/8 loss 0.2500  120 img/s  ETA 8s",
    "epoch 1/2: train loss 0.4000  val loss 0.3000  accuracy 0.900  macro-F1 0.850  (1.5s)",
    "  saved /runs/run-1/best.pt (best so far)",
    "  epoch 2/2 step 8/8 loss 0.1250  130 img/s  ETA 0s",
    "epoch 2/2: train loss 0.2000  val loss 0.2500  accuracy 0.800  macro-F1 0.750  (1.2s)",
    "  saved /runs/run-1/last.pt",
    "predicting 600/600 images",
    "predicted 600 images in 2.0s: 0 out-of-sample, 3 suspect label(s)",
    "finished: best accuracy 0.900, checkpoint /runs/run-1/best.pt",
]


def terminal(stream: io.StringIO | None = None) -> tuple[Emitter, io.StringIO]:
    stream = stream if stream is not None else io.StringIO()
    console = Console(file=stream, force_terminal=True, force_interactive=True, width=120)
    return Emitter("human", stream, console=console), stream


def send(emitter: Emitter, events) -> None:
    for kind, data in events:
        if kind == "started":
            emitter.run_id = 1
        emitter.emit(kind, **data)


def visible(text: str) -> str:
    """The output without escape codes: every drawing of the bars stays in it."""
    return ANSI.sub("", text)


def screen(text: str) -> list[str]:
    """What a terminal shows after ``text``: the lines rich's redraws leave (it moves with
    carriage return, erase line and cursor up; colours and the cursor's visibility are
    dropped)."""
    lines: list[str] = [""]
    row = col = 0
    for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)", text):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif token == "\x1b[2K":
            lines[row] = ""
        elif up := re.fullmatch(r"\x1b\[(\d*)A", token):
            row = max(0, row - int(up.group(1) or 1))
        elif token and not token.startswith("\x1b"):
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token):]
            col += len(token)
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip() for line in lines]


def test_terminal_draws_bars_and_leaves_the_plain_lines():
    emitter, out = terminal()
    assert emitter.draws_bars
    send(emitter, RUN)
    raw = out.getvalue()
    drawn = visible(raw)
    assert re.search(r"preparing images ━+╺?━* 256/500 256 decoded", drawn)
    assert re.search(r"run 1 ━+\S* epoch 1/2 step 4/8 loss 0\.5000  100 img/s  ETA 12s", drawn)
    assert "epoch 2/2 step 8/8 loss 0.1250  130 img/s  ETA 0s" in drawn
    assert re.search(r"predicting ━+╺?━* 300/600", drawn)
    # The bars are gone at the end; the screen holds the plain lines without the step lines
    # (those were the bars), and the cursor is shown.
    assert screen(raw) == [line for line in LINES if not line.startswith("  epoch ")]
    assert raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l")


def test_lines_come_above_the_bars_while_they_run():
    emitter, out = terminal()
    send(emitter, RUN[4:8])  # started, two steps, the first epoch's line
    assert screen(out.getvalue())[:-1] == [LINES[3], LINES[6]]
    assert re.fullmatch(r"run 1 ━+\S* epoch 1/2 step 8/8 loss 0\.2500  120 img/s  ETA 8s",
                        screen(out.getvalue())[-1])


def test_terminal_bars_for_the_cache_build():
    emitter, out = terminal()
    send(emitter, [("caching", {"done": 200, "total": 500, "decoded": 120})])
    assert re.fullmatch(r"caching images ━+╺?━* 200/500 120 decoded", screen(out.getvalue())[-1])
    send(emitter, [("caching", {"done": 500, "total": 500, "decoded": 300})])
    assert screen(out.getvalue()) == ["caching images 500/500 (300 decoded)"]


@pytest.mark.parametrize("ending, line", [
    (("failed", {"reason": "the loss became nan in epoch 1, step 3"}),
     "failed: the loss became nan in epoch 1, step 3"),
    (("cancelled", {"reason": "stopped by SIGINT in epoch 1; last checkpoint /r/last.pt"}),
     "cancelled: stopped by SIGINT in epoch 1; last checkpoint /r/last.pt"),
])
def test_a_run_that_ends_early_takes_the_bars_down_and_says_why(ending, line):
    emitter, out = terminal()
    send(emitter, [*RUN[1:2], *RUN[4:6]])  # the decoding and the training bar both up
    assert len(screen(out.getvalue())) == 3
    send(emitter, [ending])
    emitter.close()  # what the exit does too: nothing left to take down
    raw = out.getvalue()
    assert screen(raw) == [LINES[3], line]
    assert raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l")


def test_close_takes_the_bars_down_without_a_final_event():
    emitter, out = terminal()
    send(emitter, RUN[1:2])
    assert "256/500" in screen(out.getvalue())[-1]
    emitter.close()
    emitter.close()  # twice is fine (it also runs at exit)
    assert screen(out.getvalue()) == []
    assert out.getvalue().endswith("\x1b[?25h\r")


def test_plain_lines_when_not_a_terminal(tmp_path: Path):
    path = tmp_path / "train.log"
    with path.open("w") as stream:
        emitter = Emitter("human", stream)
        assert not emitter.draws_bars
        send(emitter, RUN)
    text = path.read_text()
    assert text.splitlines() == LINES
    assert "\x1b" not in text


def test_plain_line_for_the_cache_build():
    out = io.StringIO()
    send(Emitter("human", out), [("caching", {"done": 200, "total": 500, "decoded": 120}),
                                  ("caching", {"done": 500, "total": 500, "decoded": 300})])
    assert out.getvalue() == "caching images 500/500 (300 decoded)\n"


@pytest.mark.parametrize(("decoded", "line"), [
    (92, "preparing images 92/92 (92 decoded)"),
    (0, "preparing images 92/92 (92 from the decode cache)"),
    (30, "preparing images 92/92 (30 decoded, 62 from the decode cache)"),
    (None, "preparing images 92/92"),  # an older trainer: how is not said
])
def test_a_runs_pass_says_how_its_images_became_ready(decoded, line):
    """Issue 17.9: never "decoding" for images read from the decode cache."""
    out = io.StringIO()
    data = {"done": 92, "total": 92} | ({} if decoded is None else {"decoded": decoded})
    send(Emitter("human", out), [("preparing", data)])
    assert out.getvalue() == line + "\n"


def test_auto_on_a_pipe_is_json():
    out = io.StringIO()
    emitter = Emitter("auto", out)
    send(emitter, RUN)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == [kind for kind, _ in RUN]
    assert records[-1]["best_checkpoint"] == "/runs/run-1/best.pt"
    assert not emitter.draws_bars


class BrokenPipe(io.StringIO):
    """A stream whose reader goes away after ``writes`` writes."""

    def __init__(self, writes: int, tty: bool) -> None:
        super().__init__()
        self.writes, self.tty = writes, tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        if self.writes <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.writes -= 1
        return super().write(text)


@pytest.mark.parametrize("writes", [0, 1, 3, 8])
@pytest.mark.parametrize("bars", [True, False])
def test_a_broken_pipe_does_not_raise(writes: int, bars: bool):
    stream = BrokenPipe(writes, tty=bars)
    emitter = terminal(stream)[0] if bars else Emitter("human", stream)
    assert emitter.draws_bars is bars
    send(emitter, RUN)  # the run goes on; nothing raises
    emitter.close()
    written = stream.getvalue()
    stream.writes = 10**6  # the pipe is back: nothing more is written after it broke
    emitter.emit("finished", **RUN[-1][1])
    assert stream.getvalue() == written
