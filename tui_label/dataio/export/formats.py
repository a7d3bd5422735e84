"""The file formats: CSV (cells a spreadsheet would run neutralized) and JSON lines (values as
stored)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

FIELDS = ("path", "label", "annotator", "labeled_at", "split")
PREDICTION_FIELDS = ("predicted", "confidence")  # with --with-predictions
FORMATS = ("csv", "jsonl", "imagefolder", "hf")
FOLDER_FORMATS = ("imagefolder", "hf")
# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> object:
    """``value`` with a ``'`` in front when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_csv(rows: Iterable[Mapping[str, object]], out: TextIO,
              fields: Sequence[str] = FIELDS) -> None:
    """Rows as CSV with a header; every text cell neutralized."""
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: neutralize(value) for key, value in row.items()})


def write_jsonl(rows: Iterable[Mapping[str, object]], out: TextIO) -> None:
    """Rows as one JSON object per line, values as stored."""
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")

