"""Trainer events, typed: one frozen dataclass per kind, and ``parse``, the one place a record
(a JSON object from the trainer's stdout, or the progress the store keeps) becomes one.

On the wire an event is a flat JSON object: ``event`` (the kind), ``run_id``, ``time`` and the
kind's fields. Kinds, in a run's order: ``warning`` (if any), ``preparing`` (images made
ready: decoded, or read from the decode cache), ``started``, ``step`` (throttled), ``epoch``
(with the metrics), ``checkpoint``; after the last epoch ``fold`` (``--folds K`` only),
``predicting`` (throttled) and ``predicted`` (or a ``warning`` saying why there are no
predictions); then one of ``finished``, ``failed``, ``cancelled``. ``tui-label predict``
sends ``warning``, ``predicting`` and ``predicted``; ``tui-label cache`` sends ``caching``
and ``cached``.

The trainer writes events with ``runs.emit.Emitter``; the panel (``RunState.apply``), the
human output (``runs.emit.human`` and its bars) and the benchmarks read them through here. A
kind this version does not know (a newer trainer) parses to None; a known kind without a
field it needs is an ``EventError``. No torch, no textual here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tui_label.runs.metrics import Report


class EventError(ValueError):
    """A record that names a known kind but lacks a field it needs, or is not an object."""


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = ""
    run_id: int | None = None
    time: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Warned(Event):
    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True, kw_only=True)
class Pass(Event):
    """A pass over images with a count: ``preparing`` (a run's images), ``caching``,
    ``predicting``."""

    done: int
    total: int

    @property
    def complete(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True, kw_only=True)
class Preparing(Pass):
    kind: ClassVar[str] = "preparing"
    decoded: int | None = None  # images decoded so far (the rest came from the decode cache)


@dataclass(frozen=True, kw_only=True)
class Caching(Pass):
    kind: ClassVar[str] = "caching"
    decoded: int | None = None


@dataclass(frozen=True, kw_only=True)
class Predicting(Pass):
    kind: ClassVar[str] = "predicting"


@dataclass(frozen=True, kw_only=True)
class Started(Event):
    kind: ClassVar[str] = "started"
    model: str
    device: str
    classes: list[str]
    num_train: int
    num_val: int
    epochs: int
    steps: int
    num_unlabeled: int = 0  # unlabeled images it learns from as well (--unlabeled)
    precision: str = "fp32"
    world_size: int = 1
    image_size: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    decoded: int | None = None  # images decoded for the run (None: an older trainer)
    prepared_s: float | None = None  # seconds until all of them were ready


@dataclass(frozen=True, kw_only=True)
class Step(Event):
    kind: ClassVar[str] = "step"
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    images_per_sec: float
    eta_s: float
    gpu_memory_mb: float | None = None  # CUDA only
    gpu_util: float | None = None

    @property
    def position(self) -> float:
        """Epochs done, fractional: where the step sits on the loss curve's x axis."""
        return self.epoch - 1 + self.step / max(self.steps, 1)


@dataclass(frozen=True, kw_only=True)
class Epoch(Event):
    kind: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    report: Report  # on the wire its fields sit in the event itself
    seconds: float = 0.0
    images_per_sec: float | None = None


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Event):
    kind: ClassVar[str] = "checkpoint"
    path: str
    best: bool = False
    epoch: int | None = None


@dataclass(frozen=True, kw_only=True)
class Fold(Event):
    kind: ClassVar[str] = "fold"
    fold: int
    folds: int
    num_train: int
    num_held_out: int


@dataclass(frozen=True, kw_only=True)
class Predicted(Event):
    kind: ClassVar[str] = "predicted"
    images: int
    oof: int
    suspects: int
    seconds: float
    predictions: str | None = None


@dataclass(frozen=True, kw_only=True)
class Cached(Event):
    kind: ClassVar[str] = "cached"
    images: int
    decoded: int
    reused: int
    unreadable: int
    seconds: float
    folder: str


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    best_accuracy: float
    best_checkpoint: str | None = None
    last_checkpoint: str | None = None
    seconds: float | None = None


@dataclass(frozen=True, kw_only=True)
class Ended(Event):
    """A run that stopped before its end: ``failed`` or ``cancelled``, with the reason."""

    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Failed(Ended):
    kind: ClassVar[str] = "failed"


@dataclass(frozen=True, kw_only=True)
class Cancelled(Ended):
    kind: ClassVar[str] = "cancelled"


@dataclass(frozen=True, kw_only=True)
class Exited(Event):
    """Not on the wire: the labeler's note that the trainer process ended (``code``), with
    where its stderr went (``log`` from ``offset``) for the reason of a run that sent no final
    event."""

    kind: ClassVar[str] = "exited"
    code: int
    log: str
    offset: int = 0


KINDS: dict[str, type[Event]] = {cls.kind: cls for cls in (
    Warned, Preparing, Caching, Predicting, Started, Step, Epoch, Checkpoint, Fold, Predicted,
    Cached, Finished, Failed, Cancelled, Exited)}
TERMINAL = (Finished, Failed, Cancelled)  # a run's last event


def parse(record: Any, kind: str | None = None) -> Event | None:
    """The event a record holds, or None for a kind this version does not know.

    ``kind`` reads a record without an ``event`` key as that kind (the step progress the
    store keeps). Fields a kind does not know are ignored (a newer trainer may add some).
    Raises ``EventError`` when a field it needs is missing."""
    if not isinstance(record, dict):
        raise EventError(f"an event is a JSON object, not {type(record).__name__}")
    kind = kind or record.get("event")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    values = {f.name: record[f.name] for f in dataclasses.fields(cls)
              if f.name in record and f.name != "report"}
    if cls is Epoch:
        try:
            values["report"] = Report.from_dict({"per_class": [], "confusion": [], **record})
        except (KeyError, TypeError) as exc:
            raise EventError(f"an epoch event without its metrics ({exc})") from None
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise EventError(f"a {kind} event without {_missing(cls, values)}: {exc}") from None


def parse_line(line: str | bytes) -> Event | None:
    """An event from one line of the trainer's JSON output; None for a line that is not an
    event (the trainer's stdout carries nothing else, but a stray print must not stop the
    reader) or is one of a kind unknown here."""
    import json

    try:
        record = json.loads(line)
    except ValueError:
        return None
    try:
        return parse(record)
    except EventError:
        return None


def _missing(cls: type[Event], values: dict) -> str:
    needed = [f.name for f in dataclasses.fields(cls)
              if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
              and f.name not in values]
    return ", ".join(needed) or "a valid field"
