"""``tui-label duplicates``: exact and near-duplicate images, headless, as text, CSV or JSON.

Exact copies share their bytes; near copies have difference hashes a few bits apart (both
need no model: ``media.fingerprint``); with a predicted run, images whose embeddings are
nearly parallel are a third kind (``assist.duplicates``). A group whose images sit on both
sides of the train/validation split is a leak, and a warning says so. Nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import click

from tui_label.cli.common import (
    db_option,
    dir_argument,
    existing_db,
    format_option,
    open_for_reading,
    run_option,
)
from tui_label.errors import UsageError

KINDS = ("exact", "near", "embedding")


@click.command("duplicates")
@dir_argument
@db_option
@click.option("--by", "by", default="exact,near,embedding", show_default=True,
              metavar="KINDS", help="Which kinds, comma separated: exact (same bytes), near "
              "(difference hash), embedding (a run's embeddings; skipped without one).")
@click.option("--max-bits", type=click.IntRange(0, 16), default=4, show_default=True,
              help="Near copies: at most this many of the 64 hash bits differ.")
@click.option("--min-cosine", type=click.FloatRange(0.5, 1.0), default=0.97,
              show_default=True, help="Embedding duplicates: at least this cosine similarity.")
@run_option("Whose embeddings (default: the latest run with predictions).")
@format_option(["text", "csv", "json"], "text",
               "Readable groups, one CSV row per image of a group, or one JSON object.")
def duplicates(folder, db, by, max_bits, min_cosine, run_id, fmt) -> None:
    """Groups of duplicate images, largest first, with each image's label and split; a
    warning for every group that straddles the train/validation split (leakage)."""
    kinds = _kinds(by)
    db, root = existing_db(folder, db)
    store = open_for_reading(db)
    try:
        report = _find(store, root, kinds, max_bits, min_cosine, run_id)
    finally:
        store.close()
    click.echo(_render(report, fmt), nl=False)
    for leak in report["leaks"]:
        paths = ", ".join(f"{m['path']} ({m['split']})" for m in leak["images"])
        click.echo(f"warning: {leak['kind']} duplicates on both sides of the train/validation "
                   f"split (the validation accuracy overstates): {paths}", err=True)


def _kinds(by: str) -> list[str]:
    kinds = [k.strip() for k in by.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise UsageError(f"--by takes {', '.join(KINDS)} (comma separated), not {by!r}")
    return kinds


def _find(store, root: Path | None, kinds: list[str], max_bits: int, min_cosine: float,
          run_id: int | None) -> dict:
    from tui_label.assist import duplicates as dup  # heavy: numpy

    if root is None:
        recorded = store.get_setting("root")
        root = Path(recorded) if recorded else None
    if {"exact", "near"} & set(kinds) and (root is None or not root.is_dir()):
        raise UsageError("which folder holds the images? give DIR" if root is None
                         else f"dataset folder not found: {root}")
    images = store.readable_images()
    groups, notes = [], []
    if {"exact", "near"} & set(kinds):
        assert root is not None
        prints = _fingerprints(root, images)
        if "exact" in kinds:
            groups += dup.exact_groups(prints)
        if "near" in kinds:
            groups += dup.near_groups(prints, max_bits)
        unreadable = sum(p.error is not None for p in prints)
        if unreadable:
            notes.append(f"{unreadable} image(s) could not be read")
    if "embedding" in kinds:
        found, note = _embedding_groups(store, run_id, min_cosine)
        groups += found
        notes += [note] if note else []
    return _report(store, groups, dup.leaks(groups, store.splits()), notes, len(images))


def _fingerprints(root: Path, images: list[tuple[int, str]]):
    from tui_label.media.fingerprint import fingerprints

    progress = None
    if sys.stderr.isatty():
        def progress(done: int, total: int) -> None:
            if done == total or done % 200 == 0:
                click.echo(f"\rfingerprinting {done}/{total}", err=True, nl=done == total)
    return fingerprints([(i, root / path) for i, path in images], progress=progress)


def _embedding_groups(store, run_id: int | None, min_cosine: float):
    """The embedding groups of a run, and a note when there are none to look at."""
    from tui_label.assist import duplicates as dup
    from tui_label.assist.model_view import run_predictions_dir
    from tui_label.assist.predictions import PredictionSet

    run = store.run(run_id) if run_id is not None else store.latest_predicted_run()
    if run_id is not None and (run is None or not run["predicted_at"]):
        raise UsageError(f"run {run_id} has no predictions: `tui-label predict --run "
                         f"{run_id}` makes them")
    if run is None:
        return [], "no run has predicted yet: embedding duplicates skipped"
    try:
        preds = PredictionSet.load(run_predictions_dir(store.path, run["id"]))
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"the predictions of run {run['id']} cannot be read: {exc}") from None
    if preds.embeddings is None:
        return [], f"run {run['id']} stored no embeddings: embedding duplicates skipped"
    return dup.embedding_groups(preds.ids.tolist(), preds.embeddings, min_cosine), None


def _report(store, groups, leaks, notes: list[str], images: int) -> dict:
    states = {row[0]: row for row in store.label_states()}
    names = {c.id: c.name for c in store.classes()}
    split_of = store.splits()

    def member(image_id: int) -> dict:
        _, path, action, class_id, classes = states[image_id]
        label = (names.get(class_id) if action == "label" and class_id is not None
                 else (json.loads(classes) if classes else None))
        return {"image_id": image_id, "path": path, "label": label,
                "split": split_of.get(image_id)}

    def described(g) -> dict:
        return {**g.to_dict(), "images": [member(i) for i in g.image_ids if i in states]}

    return {"images": images, "groups": [described(g) for g in groups],
            "leaks": [described(g) for g in leaks], "notes": notes}


def _render(report: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["group", "kind", "closeness", "image_id", "path", "label", "split"])
        for n, g in enumerate(report["groups"], 1):
            for m in g["images"]:
                writer.writerow([n, g["kind"], g["closeness"], m["image_id"], m["path"],
                                 "" if m["label"] is None else m["label"], m["split"] or ""])
        return out.getvalue()
    lines = []
    for n, g in enumerate(report["groups"], 1):
        how = {"exact": "same bytes", "near": f"hashes within {g['closeness']:.0f} bits",
               "embedding": f"cosine >= {g['closeness']:.3f}"}[g["kind"]]
        lines.append(f"group {n}: {g['size']} {g['kind']} duplicates ({how})")
        labels = {str(m["label"]) for m in g["images"] if m["label"] is not None}
        for m in g["images"]:
            label = m["label"] if m["label"] is not None else "unlabeled"
            lines.append(f"  {m['path']}  {label}" + (f"  [{m['split']}]" if m["split"] else ""))
        if len(labels) > 1:
            lines.append(f"  labels disagree: {', '.join(sorted(labels))}")
    count = sum(g["size"] for g in report["groups"])
    lines.append(f"{len(report['groups'])} group(s), {count} of {report['images']} images; "
                 f"{len(report['leaks'])} straddle the train/validation split")
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"
