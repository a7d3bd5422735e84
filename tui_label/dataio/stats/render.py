"""The statistics as text: rich renderables for ``tui-label stats`` and the labeler's
statistics screen. Names (classes, annotators) are user data: always Text, never markup."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tui_label.dataio.stats.model import Agreement, Stats

BAR_WIDTH = 30
MATRIX_MAX_CLASSES = 12  # the text shows the confusion matrix up to this many classes


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _bar(count: int, most: int, width: int = BAR_WIDTH) -> str:
    if most <= 0 or count <= 0:
        return ""
    eighths = round(count / most * width * 8)
    full, part = divmod(max(eighths, 1), 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[part]


def _duration(seconds: float) -> str:
    if seconds < 60:  # down: 29.6 s is no "30s" beside a pace that needs 30 s
        return f"{int(seconds)}s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def render(stats: Stats) -> Group:
    """The statistics as rich renderables, for the terminal and the labeler's screen. Names
    (classes, annotators) are user data: always Text, never markup."""
    return Group(*_overview(stats), *_per_class_counts(stats), *_per_annotator(stats),
                 *_agreement(stats.agreement))


def _table() -> Table:
    return Table(box=None, pad_edge=False, show_edge=False, header_style="bold")


def _overview(stats: Stats) -> list:
    parts: list = [Text(f"{stats.images} images: {stats.labeled} labeled, {stats.skipped} "
                        f"skipped, {stats.remaining} to go", style="bold")]
    if stats.unreadable or stats.missing:
        parts.append(Text(f"{stats.unreadable} unreadable, {stats.missing} missing on disk"))
    return parts


def _per_class_counts(stats: Stats) -> list:
    classes = _table()
    classes.add_column("key", justify="right")
    classes.add_column("class")
    classes.add_column("labels", justify="right")
    classes.add_column("share", justify="right")
    classes.add_column("")
    most = max((c.count for c in stats.classes), default=0)
    for c in stats.classes:
        classes.add_row(c.hotkey or "-", Text(c.name), str(c.count), f"{c.share:.1%}",
                        Text(_bar(c.count, most), style="bold"))
    parts: list = [Text("\nPer class", style="bold underline"), classes]
    if stats.multi_label:
        parts.append(Text("multi-label: share of labeled images whose set holds the class (an "
                          "image counts for each of its classes)", style="italic"))
    return parts


def _per_annotator(stats: Stats) -> list:
    title = Text("\nPer annotator", style="bold underline")
    if not stats.annotators:
        return [title, Text("No labels yet.")]
    people = _table()
    for name in ("annotator", "labels", "per min", "active", "s on screen", "skips",
                 "undo rate", "accepted", "reviews"):
        people.add_column(name, justify="left" if name == "annotator" else "right")
    for a in stats.annotators:
        people.add_row(Text(a.annotator), str(a.labels), _num(a.labels_per_minute, 1),
                       _duration(a.active_seconds), _num(a.median_seconds_on_screen, 1),
                       str(a.skips),
                       "—" if a.undo_rate is None else f"{a.undo_rate:.1%}",
                       str(a.accepted), str(a.reviews))
    note = Text(f"per min: labels over active time (gaps over {stats.idle_gap_seconds / 60:g} "
                "min are breaks); s on screen: median", style="italic")
    return [title, people, note]


def _agreement(ag: Agreement) -> list:
    title = Text("\nAgreement", style="bold underline")
    if ag.images == 0:
        return [title, Text("No image has labels from two annotators yet (tui-label label "
                            "--overlap sends a share of images to several).")]
    raters = ", ".join(f"{n} with {r} raters" for r, n in ag.raters.items())
    exact = "exact sets: " if ag.multi_label else ""
    pairs = _table()
    for name in ("annotators", "images", "agree", "Cohen's kappa"):
        pairs.add_column(name, justify="left" if name == "annotators" else "right")
    for p in ag.pairs:
        pairs.add_row(Text(f"{p.a} · {p.b}"), str(p.images), f"{p.observed:.1%}",
                      _num(p.kappa, 3))
    return [title,
            Text(f"{ag.images} images labeled by two or more annotators ({raters})"),
            Text(f"{exact}Fleiss' kappa {_num(ag.fleiss_kappa, 3)}  "
                 f"(observed agreement {_num(ag.observed, 3)})", style="bold"),
            pairs,
            _per_class(ag) if ag.multi_label else _confusion(ag)]


PER_CLASS_MAX_PAIRS = 3  # pair columns shown in the per-class table


def _per_class(ag: Agreement) -> Group:
    """Multi-label: each class's agreement, has it or not."""
    table = _table()
    table.add_column("class")
    table.add_column("images with it", justify="right")
    table.add_column("Fleiss' kappa", justify="right")
    table.add_column("agree", justify="right")
    shown = [(p.a, p.b) for p in ag.pairs[:PER_CLASS_MAX_PAIRS]]
    for a, b in shown:
        table.add_column(Text(f"{a} · {b}"), justify="right")
    for c in ag.per_class:
        kappas = {(p.a, p.b): p.kappa for p in c.pairs}
        table.add_row(Text(c.name), str(c.images), _num(c.fleiss_kappa, 3),
                      "—" if c.observed is None else f"{c.observed:.1%}",
                      *(_num(kappas.get(pair), 3) for pair in shown))
    note = "each rating has the class or not; the pair columns are Cohen's kappa"
    if len(ag.pairs) > len(shown):
        note += f" (first {len(shown)} pairs; --format json has all)"
    return Group(Text("\nPer class (multi-label)", style="bold underline"), table,
                 Text(note, style="italic"))


def _confusion(ag: Agreement) -> Group:
    used = [i for i in range(len(ag.classes))
            if any(ag.confusion[i]) or any(row[i] for row in ag.confusion)]
    title = Text("\nConfusion between annotators", style="bold underline")
    off = sorted(((ag.confusion[i][j], ag.classes[i], ag.classes[j])
                  for i in used for j in used if i < j and ag.confusion[i][j]), reverse=True)
    if len(used) <= MATRIX_MAX_CLASSES:
        matrix = _table()
        matrix.add_column("")
        for j in used:
            matrix.add_column(Text(ag.classes[j]), justify="right")
        for i in used:
            cells = [Text(str(ag.confusion[i][j]) if ag.confusion[i][j] else "·",
                          style="bold" if i == j and ag.confusion[i][j] else "")
                     for j in used]
            matrix.add_row(Text(ag.classes[i], style="bold"), *cells)
        note = Text("each pair of two annotators' labels of an image counts once (diagonal: "
                    "they agree)", style="italic")
        body: list = [matrix, note]
    else:
        body = []
    if off:
        lines = Text("most confused: ")
        lines.append_text(Text(", ".join(f"{a} / {b} {n}" for n, a, b in off[:8])))
        body.append(lines)
    else:
        body.append(Text("no disagreements"))
    return Group(title, *body)
