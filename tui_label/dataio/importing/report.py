"""An import's summary as lines for a person (``tui-label import`` prints them)."""

from __future__ import annotations

from pathlib import Path

from tui_label.dataio.importing.plan import Summary


def _names(names: list[str], *, quote: bool = True, most: int = 10) -> str:
    shown = ", ".join(repr(n) if quote else n for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def describe(summary: Summary) -> list[str]:
    """The summary as lines for a person."""
    done = summary.applied
    lines = [f"{'Imported' if done else 'Dry run, nothing changed'}: {summary.source} "
             f"({summary.format}, {summary.rows:,} rows)"]
    if summary.switches_mode:
        lines.append("  the database " + ("is now" if done else "would switch to")
                     + " multi-label mode (labels read as sets of classes)")
    elif summary.multi_label:
        lines.append("  multi-label: labels read as sets of classes")

    def line(label: str, n: int, note: str = "") -> None:
        lines.append(f"  {label:<24}{n:>10,}" + (f"  {note}" if note else ""))

    line("new labels", summary.new)
    line("changed labels", summary.changed,
         "existing different labels replaced (--on-conflict overwrite)" if summary.changed
         else "")
    if summary.changed:  # the examples are of the replaced labels, listed under them
        lines.extend(f"    {example}" for example in summary.conflict_examples)
    line("conflicts kept", summary.conflicts,
         "existing different labels kept; --on-conflict overwrite replaces them"
         if summary.conflicts else "")
    if not summary.changed:
        lines.extend(f"    {example}" for example in summary.conflict_examples)
    line("unchanged", summary.unchanged)
    if summary.no_label:
        line("rows without a label", summary.no_label, "not imported")
    if summary.repeated:
        line("repeated paths", summary.repeated, "a later row for an image applies after "
             "the earlier one")
    if summary.created_classes:
        line("classes created" if done else "classes to create", len(summary.created_classes),
             _names(summary.created_classes))
    elif summary.unknown_classes:
        counted = [f"{name!r} ({n:,})" for name, n in sorted(summary.unknown_classes.items())]
        line("unknown classes, skipped", summary.unknown_rows,
             f"rows: {_names(counted, quote=False)}; --create-classes creates them")
    if summary.not_found:
        line("not in the dataset", summary.not_found,
             "e.g. " + ", ".join(summary.not_found_examples))
    if summary.bad_rows:
        line("cannot be parsed", summary.bad_rows)
        for example in summary.bad_examples:
            lines.append(f"    {example}")
    if done:
        batches = f"{summary.batches} batch" + ("es" if summary.batches != 1 else "")
        lines.append(f"  {batches} written as label events (source 'import')")
    return lines



def describe_new(summary: Summary, db: Path, images: int) -> str:
    """The one line of an import into a new database: what it created (or would)."""
    classes = summary.created_classes
    kinds = f"{len(classes)} class" + ("es" if len(classes) != 1 else "")
    made = f" ({_names(classes, quote=False)})" if classes else ""
    count = summary.new + summary.changed
    labels = f"{count:,} label" + ("s" if count != 1 else "")
    found = f"{images:,} image" + ("s" if images != 1 else "")
    if summary.applied:
        return f"Created {db}: found {found}, created {kinds}{made}, imported {labels}"
    return (f"New database (nothing created yet): would create {db}, found {found}, would "
            f"create {kinds}{made}, would import {labels}")
