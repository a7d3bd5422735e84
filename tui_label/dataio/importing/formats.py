"""What ``tui-label import`` reads and how much it writes at once: constants the command line
shows, in a module of their own so that the CLI starts without the readers and the planner."""

from __future__ import annotations

FORMATS = ("auto", "csv", "jsonl", "imagefolder", "tui-label")
BATCH_SIZE = 5_000  # rows per transaction: an interrupted import leaves whole batches only
