"""``tui-label import``: labels from a CSV, JSON lines, a tui-label export or an ImageFolder
layout, stored as label events with ``source = 'import'``.

Two passes over the source, so a file larger than memory is streamed and never held whole:

1. **plan** reads every row and checks it against the store (new, changed, conflicting,
   unchanged, unknown class, not in the dataset, cannot be parsed). Nothing is written; the dry
   run stops here. A path outside the dataset root stops it with a ``UsageError``.
2. **apply** reads the source again and writes in batches of ``BATCH_SIZE`` rows, one
   transaction per batch (``Store.import_labels``), so an interrupted import leaves whole
   batches only. Each batch decides again against the store as it is then, so a label written
   by someone else since the plan is still a conflict, never silently replaced.

Multi-label: a database in multi-label mode (or any import with ``--multi-label``, which
switches the database to that mode for good when it writes) reads each row's label as a set of
classes: a JSON list (``[]``: labeled, none of the classes; a string is a set of one), or a CSV
cell with the names joined by ``;`` (an empty cell is the empty set). A single-label database
never gets a set: a JSON list there is a row that cannot be parsed, and so is a CSV label
holding ``;`` that names no class. Sets are compared whole (a stored single label ``c`` reads
as ``{c}``).
Memory grows with the dataset's image count (a path index, as the labeler's queue), not with
the file. No textual, no torch.

Modules: ``rows`` (a row as read, paths and times normalized), ``readers`` (CSV, JSON lines,
ImageFolder), ``plan`` (matching against the store, the plan/apply engine ``Importer``) and
``report`` (``describe``, the text for a person).
"""

from tui_label.core.lazy import exports, lazy

# Each name is imported from its module on first use: the CLI reads the formats at start-up.
__getattr__ = lazy(__name__, exports(
    formats=("BATCH_SIZE", "FORMATS"),
    plan=("SAMPLES", "DatasetIndex", "Importer", "Resolved", "Summary",
          "free_hotkeys", "outcome"),
    readers=("EXPORT_FIELDS", "FORMULA_TRIGGERS", "SPLIT_FOLDERS", "Source",
             "open_source", "read_csv", "read_imagefolder", "read_jsonl", "read_rows"),
    report=("describe", "describe_new"),
    rows=("SET_SEPARATOR", "BadRow", "Row", "normalize_path", "normalize_time")))

__all__ = [
    "BATCH_SIZE", "EXPORT_FIELDS", "FORMATS", "FORMULA_TRIGGERS", "SAMPLES", "SET_SEPARATOR",
    "SPLIT_FOLDERS", "BadRow", "DatasetIndex", "Importer", "Resolved", "Row", "Source",
    "Summary", "describe", "describe_new", "free_hotkeys", "normalize_path", "normalize_time",
    "open_source", "outcome", "read_csv", "read_imagefolder", "read_jsonl", "read_rows",
]
