"""What is exported: each image's current label, one annotator's own latest labels, or the
labels annotators agree on, as rows by path; multi-label sets as lists of names (or joined for
a CSV); the latest run's predictions beside them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from tui_label.errors import UsageError

SET_SEPARATOR = ";"  # between the class names of a set in a CSV cell


def multi_label(store) -> bool:
    """Whether ``store`` is exported as multi-label: the mode is set, or an event holds a set
    (older single labels then read as sets of one)."""
    return store.multi_label or store.has_class_sets()


def select_rows(store, *, annotator: str | None = None, agreed: bool = False,
                include_skipped: bool = False, sets: bool = False) -> list[dict]:
    """The rows to export, by path: ``path, label, annotator, labeled_at, split``.

    By default each image's current label; with ``annotator``, that annotator's own latest
    label of each image (their undo events and the events they undid left out); with
    ``agreed``, the images two or more annotators labeled alike (``annotator`` lists them,
    ``labeled_at`` is the latest; sets agree when equal). ``split`` is the stored split,
    ``''`` where none. With ``sets`` (multi-label), ``label`` is the list of class names in
    class order (None for a skip); else the class name (``''`` for a skip).

    Raises:
        UsageError: both filters, or an annotator with no events.
    """
    if agreed and annotator is not None:
        raise UsageError("give --annotator or --agreed, not both")
    if agreed:
        raw = store.agreed_rows()
    else:
        if annotator is not None and annotator not in store.annotators():
            known = ", ".join(store.annotators()) or "none yet"
            raise UsageError(f"no labels by annotator {annotator!r} (annotators: {known})")
        raw = store.export_rows(annotator=annotator)
    names = _set_names(store) if sets else None
    rows = []
    for path, action, name, who, created_at, split, classes in raw:
        if action != "label" and not include_skipped:
            continue
        if agreed:
            who = ",".join(sorted(who.split("\x1f")))
        label = (None if classes is None else names(classes)) if names else name or ""
        rows.append({"path": path, "label": label, "annotator": who,
                     "labeled_at": created_at, "split": split})
    return rows


def _set_names(store) -> Callable[[str], list[str]]:
    """A set's JSON (``[1,3]``) to its class names in class order; each distinct set is
    parsed once (a dataset has few)."""
    order = {c.id: (n, c.name) for n, c in enumerate(store.classes())}
    seen: dict[str, list[str]] = {}

    def names(classes: str) -> list[str]:
        found = seen.get(classes)
        if found is None:
            found = seen[classes] = [
                name for _, name in sorted(order.get(cid, (len(order) + cid, f"#{cid}"))
                                           for cid in json.loads(classes))]
        return found

    return names


def join_sets(rows: Iterable[Mapping[str, object]]) -> list[dict]:
    """Multi-label rows for a CSV: each ``label`` list joined by ``;``.

    Raises:
        UsageError: a class name holds ``;`` (it would read as two classes), or a row is a
            skip (an empty cell is the empty set).
    """
    out = []
    for row in rows:
        label = row["label"]
        if label is None:
            raise UsageError("a CSV of a multi-label database cannot list skipped images (an "
                             "empty label cell is the empty set): use --format jsonl")
        for name in label:
            if SET_SEPARATOR in name:
                raise UsageError(f"class {name!r} holds {SET_SEPARATOR!r}, which separates "
                                 "the classes of a set in a CSV: rename it, or export "
                                 "--format jsonl or hf")
        out.append({**row, "label": SET_SEPARATOR.join(label)})
    return out


def add_predictions(rows: list[dict], store) -> None:
    """Add each row's predicted class and its probability (``predicted``, ``confidence``)
    from the latest predicted run, in place; empty for an image it did not predict or a
    class it predicts that no longer exists.

    Raises:
        UsageError: no run has predictions yet.
    """
    run = store.latest_predicted_run()
    if run is None:
        raise UsageError("no predictions yet: train a run (it predicts at its end) or run "
                         "tui-label predict")
    names = {c.id: c.name for c in store.classes()}
    ids = store.image_ids()
    predicted = store.predictions(run["id"], "model")
    for row in rows:
        p = predicted.get(ids.get(row["path"]))
        known = p is not None and p["class_id"] in names
        row["predicted"] = names[p["class_id"]] if known else ""
        row["confidence"] = round(p["probability"], 4) if known else ""

