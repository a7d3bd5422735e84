"""``tui-label export``: labels as CSV, JSON lines, an ImageFolder tree or the Hugging Face
``imagefolder`` layout.

What is exported: each image's current label, one annotator's own latest labels, or only the
labels two or more annotators agree on; each with its stored train/validation split.

Promises: an export never writes onto the database it reads (nor its ``-wal``/``-shm`` files,
nor any other SQLite file), nor inside the dataset folder, and never clobbers a file or a
non-empty folder without ``--force``; a failed export leaves no half-written result (a file or
folder is written beside the target under a temporary name, then renamed); and no class or
file name writes outside the output folder (``safe_name``).

CSV cells that a spreadsheet would run as a formula get a leading single quote, as OWASP
recommends against CSV injection. JSON lines and the Hugging Face ``metadata.csv`` stay raw:
they are read by programs, which must see the class names as stored.

Multi-label databases (``multi_label``: the mode is set, or any event holds a set of classes):
``label`` is a list of class names in class order for JSON lines and the Hugging Face layout
(``[]``: labeled, none of the classes; a skipped image's is ``null``), and the names joined by
``;`` in a CSV (the empty set is an empty cell, so a CSV of a multi-label database cannot also
list skipped images, and a class whose name holds ``;`` is refused: JSON lines hold it). The
Hugging Face layout then writes ``metadata.jsonl`` (its list column is read by ``datasets`` as
a list; a CSV cell would be one string) with the images in folders of ``HF_FOLDER_SIZE``.
ImageFolder has one class per image: refused for a multi-label database.
No textual, no torch.

Modules: ``rows`` (what is exported), ``names`` (safe, unique file and folder names),
``formats`` (CSV and JSON lines), ``check`` (which outputs are refused), ``atomic`` (writing
through a temporary file or folder), ``folders`` (ImageFolder) and ``hf`` (Hugging Face).
"""

from tui_label.core.lazy import exports, lazy

# Each name is imported from its module on first use: the CLI reads the formats at start-up.
__getattr__ = lazy(__name__, exports(
    atomic=("write_atomically", "write_folder_atomically"),
    check=("SQLITE_MAGIC", "check_output"),
    folders=("TRAIN", "VAL", "FolderExport", "write_imagefolder"),
    formats=("FIELDS", "FOLDER_FORMATS", "FORMATS", "FORMULA_TRIGGERS", "PREDICTION_FIELDS",
             "neutralize", "write_csv", "write_jsonl"),
    hf=("HF_FIELDS", "HF_FOLDER_SIZE", "HF_METADATA", "HF_METADATA_JSONL", "write_hf"),
    names=("MAX_NAME_BYTES", "UniqueNames", "safe_name"),
    rows=("SET_SEPARATOR", "add_predictions", "join_sets", "multi_label", "select_rows")))

__all__ = [
    "FIELDS", "FOLDER_FORMATS", "FORMATS", "FORMULA_TRIGGERS", "HF_FIELDS", "HF_FOLDER_SIZE",
    "HF_METADATA", "HF_METADATA_JSONL", "MAX_NAME_BYTES", "PREDICTION_FIELDS", "SET_SEPARATOR",
    "SQLITE_MAGIC", "TRAIN", "VAL", "FolderExport", "UniqueNames", "add_predictions",
    "check_output", "join_sets", "multi_label", "neutralize", "safe_name", "select_rows",
    "write_atomically", "write_csv", "write_folder_atomically", "write_hf", "write_imagefolder",
    "write_jsonl",
]
