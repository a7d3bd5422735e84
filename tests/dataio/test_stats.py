"""Statistics: kappas against hand-worked values, per-annotator figures on a constructed event
log, ``tui-label stats`` as text and JSON, and the labeler's statistics screen (``%``)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from tests.helpers.cli import assert_usage_error, run_cli
from tests.helpers.data import make_images
from tests.helpers.imports import imported_after
from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.core.keys import reserved_keys
from tui_label.dataio import stats
from tui_label.dataio.stats import Event
from tui_label.media.scan import scan
from tui_label.store import Store

CAT, DOG, BIRD = "cat", "dog", "bird"


# -- kappas, worked by hand -----------------------------------------------------------------


def test_cohen_kappa_two_classes():
    """Ten images, a and b:

        a: cat cat cat cat cat cat dog dog dog dog
        b: cat cat cat cat dog dog dog dog dog cat

    Confusion (rows a, columns b): [[4, 2], [1, 3]]. Observed p_o = 7/10 = 0.7. Marginals:
    a 0.6 / 0.4, b 0.5 / 0.5, so chance p_e = 0.6*0.5 + 0.4*0.5 = 0.5 and
    kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    """
    assert stats.cohen_kappa([[4, 2], [1, 3]]) == pytest.approx(0.4)


def test_cohen_kappa_three_classes():
    """Fifteen images, confusion [[5, 1, 0], [0, 4, 1], [1, 0, 3]]: p_o = 12/15 = 0.8; both
    raters' marginals are 6, 5, 4, so p_e = (36 + 25 + 16) / 225 = 77/225 and
    kappa = (180/225 - 77/225) / (148/225) = 103/148 = 0.69595.
    """
    assert stats.cohen_kappa([[5, 1, 0], [0, 4, 1], [1, 0, 3]]) == pytest.approx(103 / 148)


def test_cohen_kappa_undefined_and_perfect():
    """Both used one class only: chance agreement is 1, kappa undefined (None, not NaN).
    Perfect agreement on two classes: kappa 1. No images: None."""
    assert stats.cohen_kappa([[5, 0], [0, 0]]) is None
    assert stats.cohen_kappa([[3, 0], [0, 2]]) == pytest.approx(1.0)
    assert stats.cohen_kappa([[0, 0], [0, 0]]) is None


def test_cohen_kappa_matches_scikit_learn():
    """The same pairs through ``agreement`` and through scikit-learn."""
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")
    a = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 1]
    b = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 2, 2, 0, 2, 2]
    rated = {i: {"a": x, "b": y} for i, (x, y) in enumerate(zip(a, b, strict=True))}
    result = stats.agreement(rated, [0, 1, 2], [CAT, DOG, BIRD])
    (pair,) = result.pairs
    assert pair.kappa == pytest.approx(metrics.cohen_kappa_score(a, b))
    assert pair.confusion == metrics.confusion_matrix(a, b, labels=[0, 1, 2]).tolist()


def test_fleiss_kappa_three_raters():
    """Four images, three raters each, cat / dog counts: (3, 0), (2, 1), (1, 2), (0, 3).

    Per-image agreement sum n_ij (n_ij - 1) / (n (n - 1)): 6/6 = 1, 2/6, 2/6, 1; the mean is
    (1 + 1/3 + 1/3 + 1) / 4 = 2/3. Class shares 6/12 and 6/12: p_e = 0.5, so
    kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3.
    """
    kappa, observed = stats.fleiss_kappa([[3, 0], [2, 1], [1, 2], [0, 3]])
    assert observed == pytest.approx(2 / 3)
    assert kappa == pytest.approx(1 / 3)


def test_fleiss_kappa_different_numbers_of_raters():
    """Three images: 2 raters (cat, cat), 3 raters (cat, cat, dog), 2 raters (cat, dog); one
    image with a single rater, which is left out.

    Per image: 2/2 = 1; (2*1 + 0) / (3*2) = 1/3; 0 / 2 = 0; mean 4/9. Ratings: 5 cat, 2 dog of
    7, so p_e = 25/49 + 4/49 = 29/49 and kappa = (4/9 - 29/49) / (20/49) = -65/180 = -13/36.
    """
    kappa, observed = stats.fleiss_kappa([[2, 0], [2, 1], [1, 1], [1, 0]])
    assert observed == pytest.approx(4 / 9)
    assert kappa == pytest.approx(-13 / 36)


def test_fleiss_kappa_equals_statsmodels_for_equal_raters():
    irr = pytest.importorskip("statsmodels.stats.inter_rater",
                              reason="statsmodels is not installed")
    table = [[3, 1, 0], [0, 4, 0], [2, 1, 1], [1, 1, 2], [0, 0, 4]]
    assert stats.fleiss_kappa(table)[0] == pytest.approx(irr.fleiss_kappa(table))


def test_agreement_pairs_fleiss_and_confusion():
    """Three annotators on four images (classes cat=0, dog=1):

        image 1: a cat, b cat, c cat
        image 2: a cat, b dog, c cat
        image 3: a dog, b dog            (c did not rate it)
        image 4: a dog                   (one rater: not compared)

    Pairs: a·b on images 1-3, cat/cat, cat/dog, dog/dog: [[1, 1], [0, 1]], p_o = 2/3,
    p_e = (2/3)(1/3) + (1/3)(2/3) = 4/9, kappa = (2/3 - 4/9) / (5/9) = 2/5.
    a·c on images 1-2, both cat both times: [[2, 0], [0, 0]], kappa undefined (None).
    b·c on images 1-2: cat/cat, dog/cat: [[1, 0], [1, 0]], p_o = 1/2; marginals b (1/2, 1/2),
    c (1, 0): p_e = 1/2, kappa = 0.
    Fleiss: counts (3, 0), (2, 1), (0, 2): per image 1, 1/3, 1: mean 7/9; shares 5/8, 3/8:
    p_e = 34/64, kappa = (7/9 - 17/32) / (15/32) = (224 - 153) / 135 = 71/135.
    Pooled confusion: agreeing pairs on the diagonal (image 1: 3 cat pairs, image 2: a·c cat,
    image 3: a·b dog) and the disagreements of image 2 (a·b, b·c) in both off cells.
    """
    rated = {1: {"a": 0, "b": 0, "c": 0}, 2: {"a": 0, "b": 1, "c": 0}, 3: {"a": 1, "b": 1},
             4: {"a": 1}}
    result = stats.agreement(rated, [0, 1], [CAT, DOG])
    assert result.images == 3 and result.raters == {2: 1, 3: 2}
    pairs = {(p.a, p.b): p for p in result.pairs}
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert pairs["a", "b"].confusion == [[1, 1], [0, 1]]
    assert pairs["a", "b"].images == 3
    assert pairs["a", "b"].observed == pytest.approx(2 / 3)
    assert pairs["a", "b"].kappa == pytest.approx(2 / 5)
    assert pairs["a", "c"].kappa is None and pairs["a", "c"].confusion == [[2, 0], [0, 0]]
    assert pairs["b", "c"].confusion == [[1, 0], [1, 0]]
    assert pairs["b", "c"].kappa == pytest.approx(0.0)
    assert result.fleiss_kappa == pytest.approx(71 / 135)
    assert result.observed == pytest.approx(7 / 9)
    assert result.confusion == [[4, 2], [2, 1]]


def test_no_shared_images_means_no_agreement():
    result = stats.agreement({1: {"a": 0}, 2: {"b": 1}}, [0, 1], [CAT, DOG])
    assert result.images == 0 and result.pairs == [] and result.fleiss_kappa is None


# -- ratings from the event log -------------------------------------------------------------


def ev(id_, image, action, cls=None, who="a", at="2024-01-01T00:00:00.000Z", ms=None,
       undo_of=None, source=None) -> Event:
    return Event(id_, image, action, cls, who, at, ms, undo_of, source)


def test_ratings_apply_undos_and_ignore_skips_and_reviews():
    """a: cat on 1, then dog, then undoes the dog: cat again. b: dog on 1, then undoes it, and
    the undo event restores a's cat *written by b*: b has no rating. c: skips 1 (no rating).
    a confirms 2 as a review (not a rating), b labels 2 bird."""
    events = [
        ev(1, 1, "label", 0, "a"), ev(2, 1, "label", 1, "a"),
        ev(3, 1, "label", 0, "a", undo_of=2),
        ev(4, 1, "label", 1, "b"), ev(5, 1, "label", 0, "b", undo_of=4),
        ev(6, 1, "skip", None, "c"),
        ev(7, 2, "label", 2, "b"), ev(8, 2, "label", 2, "a", source="review"),
    ]
    assert stats.ratings(events) == {1: {"a": 0}, 2: {"b": 2}}


def test_annotator_figures_on_a_constructed_log():
    """Annotator "ann" (seconds after the start, on screen):

        0 s     label cat           2.0 s
        10 s    label dog, accepted suggestion   4.0 s
        20 s    skip                1.0 s
        25 s    undo of the skip    (an undo: not a label, no time on screen)
        1000 s  label cat           3.0 s   (975 s after the last event: a break)
        1030 s  label dog           6.0 s

    Active time: 10 + 10 + 5 + 30 = 55 s (the 975 s gap is over 5 minutes: not counted).
    Labels 4, so 4 / (55/60) = 4.3636 per minute. Median on screen of 2, 4, 1, 3, 6: 3.0 s.
    Skips 1, undos 1, undo rate 1 / (4 labels + 1 skip) = 0.2; accepted 1.
    "bob" has one event: no active time, no rate (None), and no undo.
    """
    def at(seconds: float) -> str:
        return f"2024-05-01T10:{int(seconds // 60):02d}:{seconds % 60:06.3f}Z"

    events = [
        ev(1, 1, "label", 0, "ann", at(0), 2000),
        ev(2, 2, "label", 1, "ann", at(10), 4000, source="suggestion"),
        ev(3, 3, "skip", None, "ann", at(20), 1000),
        ev(4, 3, "clear", None, "ann", at(25), undo_of=3),
        ev(5, 4, "label", 0, "ann", at(1000), 3000),
        ev(6, 5, "label", 1, "ann", at(1030), 6000),
        ev(7, 6, "label", 1, "bob", at(40), 1500),
    ]
    ann, bob = stats.annotator_stats(events)
    assert ann.annotator == "ann" and bob.annotator == "bob"
    assert (ann.labels, ann.skips, ann.undos, ann.accepted, ann.reviews) == (4, 1, 1, 1, 0)
    assert ann.active_seconds == pytest.approx(55)
    assert ann.labels_per_minute == pytest.approx(4 / (55 / 60))
    assert ann.median_seconds_on_screen == pytest.approx(3.0)
    assert ann.undo_rate == pytest.approx(0.2)
    assert (ann.first, ann.last) == (at(0), at(1030))
    assert bob.labels == 1 and bob.active_seconds == 0 and bob.labels_per_minute is None
    assert bob.undo_rate == 0 and bob.median_seconds_on_screen == pytest.approx(1.5)


def test_active_time_counts_gaps_up_to_the_idle_gap():
    assert stats.active_seconds([0, 60, 121, 122]) == pytest.approx(61)  # 61 s is a break
    assert stats.active_seconds([5]) == 0
    assert stats.active_seconds([30, 0, 10]) == pytest.approx(30)  # order does not matter


def test_unreadable_times_are_left_out_of_the_pace():
    events = [ev(1, 1, "label", 0, at="2024-01-01T00:00:00Z"), ev(2, 2, "label", 0, at="then"),
              ev(3, 3, "label", 0, at="2024-01-01T00:01:00+00:00")]
    (a,) = stats.annotator_stats(events)
    assert a.labels == 3 and a.active_seconds == pytest.approx(60)
    assert a.labels_per_minute == pytest.approx(3)


def test_imported_labels_are_no_keys_in_the_pace():
    """100 labels imported at one instant, then 50 typed 1.2 s apart a minute later: the labels
    are 150, the pace is the typed 50 over their 58.8 s (51/min), not 150 over it."""
    events = [ev(i, i, "label", 0, at="2024-01-01T00:00:00Z", source="import")
              for i in range(1, 101)]
    events += [ev(101 + i, 101 + i, "label", 0, at=f"2024-01-01T00:01:{i * 1.2:06.3f}Z")
               for i in range(50)]
    (a,) = stats.annotator_stats(events)
    assert a.labels == 150 and a.active_seconds == pytest.approx(49 * 1.2)
    assert a.labels_per_minute == pytest.approx(50 / (49 * 1.2 / 60))


def test_no_pace_under_half_a_minute_of_work():
    """Two labels 10 s apart: 10 s active, too little for a rate (not 12 per minute)."""
    (a,) = stats.annotator_stats([ev(1, 1, "label", 0, at="2024-01-01T00:00:00Z"),
                                  ev(2, 2, "label", 0, at="2024-01-01T00:00:10Z")])
    assert a.active_seconds == pytest.approx(10) and a.labels_per_minute is None


# -- from a real store ----------------------------------------------------------------------


def team_db(tmp_path: Path) -> Path:
    """Six images; classes cat, dog, bird. alice labels 1-4 (cat, cat, dog, bird) over
    2 minutes; bob labels 1-3 (cat, dog, dog) and skips 5, then undoes the skip; carol labels
    1 cat and 6 dog by accepting a suggestion. Image 4 and 6 have one rater each.

    Agreement: image 1 (alice, bob, carol all cat), 2 (alice cat, bob dog), 3 (dog, dog).
    alice·bob: [[1, 1, 0], [0, 1, 0], [0, 0, 0]] on 3 images, p_o = 2/3, marginals alice
    (2/3, 1/3, 0), bob (1/3, 2/3, 0): p_e = 2/9 + 2/9 = 4/9, kappa = (2/9) / (5/9) = 0.4.
    Fleiss: (3, 0, 0), (1, 1, 0), (0, 2, 0): per image 1, 0, 1: mean 2/3; shares 4/7, 3/7:
    p_e = 25/49, kappa = (2/3 - 25/49) / (24/49) = (98 - 75) / 72 = 23/72.
    """
    data = tmp_path / "data"
    make_images(data, 6)
    db = tmp_path / "team.db"
    stores = {name: Store(db, annotator=name) for name in ("alice", "bob", "carol")}
    alice = stores["alice"]
    alice.set_classes([ClassSpec(CAT, "1"), ClassSpec(DOG, "2"), ClassSpec(BIRD, "3")])
    alice.sync_images(scan(data))
    img = [i.id for i in queue_of(alice, "all")]
    cat, dog, bird = (c.id for c in alice.classes())
    for i, c in zip(img[:4], (cat, cat, dog, bird), strict=True):
        alice.label(i, c, ms_on_screen=2000)
    bob = stores["bob"]
    for i, c in zip(img[:3], (cat, dog, dog), strict=True):
        bob.label(i, c, ms_on_screen=1000)
    bob.undo(bob.skip(img[4], ms_on_screen=500))
    carol = stores["carol"]
    carol.label(img[0], cat, ms_on_screen=3000)
    carol.add_event(img[5], "label", dog, ms_on_screen=800, source="suggestion")
    # Spread alice's four labels over two minutes (40 s apart): 120 s active, 2 per minute.
    for n, (event_id,) in enumerate(alice.conn.execute(
            "SELECT id FROM label_events WHERE annotator = 'alice' ORDER BY id").fetchall()):
        alice.conn.execute("UPDATE label_events SET created_at = ? WHERE id = ?",
                           (f"2024-05-01T10:{n * 40 // 60:02d}:{n * 40 % 60:02d}.000Z",
                            event_id))
    for s in stores.values():
        s.close()
    return db


def test_compute_from_the_store(tmp_path: Path):
    db = team_db(tmp_path)
    store = Store(db)
    try:
        result = stats.compute(store)
    finally:
        store.close()
    assert (result.images, result.labeled, result.skipped, result.remaining) == (6, 5, 0, 1)
    # Current labels: 1 cat (carol), 2 dog (bob), 3 dog, 4 bird, 6 dog.
    assert [(c.name, c.count) for c in result.classes] == [(CAT, 1), (DOG, 3), (BIRD, 1)]
    assert [c.share for c in result.classes] == pytest.approx([0.2, 0.6, 0.2])
    people = {a.annotator: a for a in result.annotators}
    assert [a.annotator for a in result.annotators] == ["alice", "bob", "carol"]
    assert people["alice"].labels == 4 and people["alice"].active_seconds == pytest.approx(120)
    assert people["alice"].labels_per_minute == pytest.approx(2.0)
    assert (people["bob"].labels, people["bob"].skips, people["bob"].undos) == (3, 1, 1)
    assert people["bob"].undo_rate == pytest.approx(1 / 4)
    assert people["bob"].median_seconds_on_screen == pytest.approx(1.0)  # 1, 1, 1, 0.5
    assert people["carol"].accepted == 1 and people["carol"].labels == 2
    ag = result.agreement
    assert ag.images == 3 and ag.raters == {2: 2, 3: 1}
    pair = {(p.a, p.b): p for p in ag.pairs}
    assert pair["alice", "bob"].kappa == pytest.approx(0.4)
    assert pair["alice", "bob"].confusion == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert pair["alice", "carol"].images == 1
    assert ag.fleiss_kappa == pytest.approx(23 / 72)


def test_stats_json(tmp_path: Path):
    db = team_db(tmp_path)
    code, out, err = run_cli("stats", "--db", str(db), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"images", "labeled", "skipped", "remaining", "unreadable", "missing",
                         "classes", "annotators", "agreement", "idle_gap_seconds"}
    assert data["images"] == 6 and data["labeled"] == 5 and data["idle_gap_seconds"] == 60
    assert data["classes"][1] == {"name": DOG, "hotkey": "2", "count": 3, "share": 0.6}
    alice = data["annotators"][0]
    assert set(alice) == {"annotator", "labels", "skips", "undos", "undo_rate", "accepted",
                          "reviews", "active_seconds", "labels_per_minute",
                          "median_seconds_on_screen", "first", "last"}
    assert alice["annotator"] == "alice" and alice["labels_per_minute"] == pytest.approx(2.0)
    ag = data["agreement"]
    assert ag["classes"] == [CAT, DOG, BIRD] and ag["images"] == 3
    assert ag["raters"] == {"2": 2, "3": 1}  # JSON object keys are strings
    assert ag["fleiss_kappa"] == pytest.approx(23 / 72)
    ab = next(p for p in ag["pairs"] if (p["a"], p["b"]) == ("alice", "bob"))
    assert ab == {"a": "alice", "b": "bob", "images": 3, "observed": pytest.approx(2 / 3),
                  "kappa": pytest.approx(0.4), "confusion": [[1, 1, 0], [0, 1, 0], [0, 0, 0]]}
    ac = next(p for p in ag["pairs"] if (p["a"], p["b"]) == ("alice", "carol"))
    assert ac["kappa"] is None  # undefined is null, never NaN (invalid JSON)
    assert "NaN" not in out


def test_stats_text(tmp_path: Path):
    db = team_db(tmp_path)
    code, out, err = run_cli("stats", "--db", str(db))
    assert code == 0, err
    assert out.startswith("6 images: 5 labeled, 0 skipped, 1 to go")
    assert re.search(r"dog\s+3\s+60\.0%\s+█{30}", out)  # the longest bar is 30 wide
    assert re.search(r"cat\s+1\s+20\.0%\s+█{10}\s", out)
    assert re.search(r"alice\s+4\s+2\.0\s+2m", out)
    assert "Fleiss' kappa 0.319" in out
    assert re.search(r"alice · bob\s+3\s+66\.7%\s+0\.400", out)
    assert "most confused: dog / cat 1" in out or "most confused: cat / dog 1" in out


def test_stats_text_without_labels(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 2)
    store = Store(tmp_path / "e.db")
    store.set_classes([ClassSpec(CAT, "1")])
    store.sync_images(scan(data))
    store.close()
    code, out, err = run_cli("stats", "--db", str(tmp_path / "e.db"))
    assert code == 0, err
    assert "2 images: 0 labeled" in out and "No labels yet." in out
    assert "No image has labels from two annotators yet" in out


def test_stats_unknown_format_is_a_usage_error(tmp_path: Path):
    db = team_db(tmp_path)
    code, _, err = run_cli("stats", "--db", str(db), "--format", "xml")
    assert_usage_error(code, err, "xml")


def test_stats_writes_nothing(tmp_path: Path):
    db = team_db(tmp_path)
    before = db.read_bytes()
    assert run_cli("stats", "--db", str(db), "--format", "json")[0] == 0
    assert db.read_bytes() == before


# -- the labeler's screen -------------------------------------------------------------------


def test_percent_is_free_of_class_hotkeys():
    """The issue asked for s; a lower-case letter is a class hotkey (1-9, 0, then letters),
    so the screen is on %, which no class can take (class keys are letters and digits)."""
    assert "s" not in reserved_keys()  # still a class key
    from tui_label.core.keys import BINDINGS

    (spec,) = [s for s in BINDINGS if s.action == "show_stats"]
    assert spec.keys == "percent_sign" and spec.help_keys == "%"


async def wait_for(pilot, condition, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"{what} never happened")


def screen_text(app) -> str:
    """What the terminal shows, rebuilt from the SVG screenshot: each text span placed at its
    column (the SVG leaves runs of blanks out and positions the next span instead)."""
    spans = re.findall(r'<text[^>]* x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)"[^>]*>'
                       r"(.*?)</text>", app.export_screenshot(), flags=re.S)
    rows: dict[float, dict[int, str]] = {}
    cell = None
    for x, y, length, raw in spans:
        text = html.unescape(raw).replace("\xa0", " ")
        if not text:
            continue
        cell = cell or float(length) / len(text)
        row = rows.setdefault(float(y), {})
        for i, char in enumerate(text):
            row[round(float(x) / cell) + i] = char
    return "\n".join("".join(row.get(c, " ") for c in range(max(row) + 1))
                     for _, row in sorted(rows.items()))


async def test_stats_screen_opens_on_percent(tmp_path: Path):
    from tests.helpers.app import make_app
    from tui_label.tui.screens.stats import StatsScreen

    db = team_db(tmp_path)
    store = Store(db, annotator="alice")
    app = make_app(store, tmp_path / "data")
    try:
        async with app.run_test(size=(110, 50)) as pilot:
            await pilot.press("percent_sign")
            await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen), "the screen")
            screen = app.screen
            await wait_for(pilot, lambda: screen.stats is not None, "the statistics")
            await pilot.pause()
            assert screen.stats.agreement.fleiss_kappa == pytest.approx(23 / 72)
            shown = screen_text(app)
            assert "Statistics" in shown and "6 images: 5 labeled" in shown
            assert "Fleiss' kappa 0.319" in shown
            assert re.search(r"alice · bob\s+3\s+66\.7%\s+0\.400", shown)
            assert re.search(r"dog\s+3\s+60\.0%", shown)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.label_screen, "back to labeling")
    finally:
        store.close()


async def test_help_lists_the_stats_key(tmp_path: Path, store: Store, dataset: Path):
    from tests.helpers.app import make_app
    from tui_label.tui.screens.help import HelpScreen

    app = make_app(store, dataset)
    async with app.run_test(size=(110, 50)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.pause()
        assert re.search(r"%\s+Statistics: per class", screen_text(app))


def test_active_time_under_a_minute_is_shown_rounded_down():
    """29.6 s of active time showed as "30s" beside a pace of "—" (a pace needs 30 s)."""
    from tui_label.dataio.stats import MIN_ACTIVE_SECONDS
    from tui_label.dataio.stats.render import _duration

    assert _duration(MIN_ACTIVE_SECONDS - 0.4) == "29s"
    assert _duration(MIN_ACTIVE_SECONDS) == "30s"
    assert _duration(59.9) == "59s" and _duration(150) == "2m"


@pytest.mark.parametrize("module", ["tui_label.dataio.stats", "tui_label.dataio.stats.compute"])
def test_computing_the_statistics_does_not_import_rich(module: str):
    # rich is for the text only (stats.render): the labeler's worker and --format json
    # compute without it.
    assert "rich" not in imported_after(module)
    assert "rich" in imported_after("tui_label.dataio.stats.render")
