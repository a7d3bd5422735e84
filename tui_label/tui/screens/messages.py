"""Messages of the labeling screen: small dataclasses, posted from worker threads."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui_label.core.types import Counts, SyncResult
from tui_label.runs.events import Event, Step
from tui_label.runs.state import RunState


@dataclass
class ImageDecoded(Message):
    """A decode finished on a worker thread."""

    image_id: int


@dataclass
class ScanDone(Message):
    """The background rescan synced the images table."""

    result: SyncResult


@dataclass
class CountsRefreshed(Message):
    """Fresh counts from the database (other labelers' work included)."""

    counts: Counts
    through: int  # the newest label event the counts include

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CountsRefreshed)


@dataclass
class DisagreementsCounted(Message):
    """How many images annotators disagree on now (the review order is offered when any)."""

    count: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DisagreementsCounted)


@dataclass
class WriteLockFree(Message):
    """The database lock that refused a key has been released."""


@dataclass
class ModelReady(Message):
    """New predictions to take (a finished run, or the live head refit): ``model`` (None: no
    predicted run), the queue of the current order ranked by it (None: not a model order), and
    ``labels_at``, the session's label count the live head was fit at (None for a run)."""

    model: object  # tui_label.assist.model_view.ModelView | None
    ranked: list | None
    order: object  # the OrderChoice ``ranked`` is for
    labels_at: int | None = None


@dataclass
class ModelFailed(Message):
    """The latest run's predictions could not be read (said once per run and prediction)."""

    run: tuple[int, str]  # (run id, predicted at)
    reason: str


@dataclass
class OrderRanked(Message):
    """A model order ranked in the background: switch to it."""

    order: object  # tui_label.core.orders.OrderChoice
    ranked: list
    keep: bool = False  # the order on screen ranked again: behind the image on screen


@dataclass
class TrainerEvent(Message):
    """One event of the trainer the panel started, posted from the controller's reader thread
    (an ``Exited`` at the process's end)."""

    event: Event

    def can_replace(self, message: Message) -> bool:
        # Queued step events merge: the newest says where the run is (the curve loses a point).
        return (isinstance(message, TrainerEvent) and isinstance(self.event, Step)
                and isinstance(message.event, Step))


@dataclass
class RunUpdated(Message):
    """The run's state changed: draw ``state``."""

    state: RunState

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated)  # only the latest state matters


@dataclass
class PageDecoded(Message):
    """A thumbnail of grid page ``page`` finished decoding (on a decode thread)."""

    page: int
