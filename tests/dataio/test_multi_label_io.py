"""Multi-label mode in export, import and statistics (issue 9): sets of classes as lists in
JSON lines and the Hugging Face layout, ``;``-joined in CSV, compared whole, counted per
class, and agreement per class and over exact sets."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from tests.helpers.cli import assert_usage_error, db_fingerprint, run_cli, tree
from tests.helpers.data import make_images
from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.dataio import stats as statistics
from tui_label.media.scan import scan
from tui_label.store import Store

CLASSES = [ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3")]


def _ids(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    return ({item.path: item.id for item in queue_of(store, "all")},
            {c.name: c.id for c in store.classes()})


def multi_db(tmp_path: Path, *, classes=CLASSES) -> tuple[Path, Path]:
    """Two annotators on six images in a multi-label database (``data/``, ``multi.db``):

    - img000: alice cat, a single label given before the mode was switched on
    - img001: alice {bird, cat}, bob {cat, bird} (agreed)
    - img002: alice {} (labeled, no class), bob {dog} (disagree)
    - img003: alice skips it
    - img004: alice {dog, cat}, bob {cat, dog} (agreed)
    - img005: no label
    """
    data = tmp_path / "data"
    make_images(data, 6)
    db = tmp_path / "multi.db"
    alice = Store(db, annotator="alice")
    alice.set_classes(classes)
    alice.sync_images(scan(data))
    ids, cls = _ids(alice)
    names = [c.name for c in classes]
    cat, dog, bird = (cls[n] for n in names)
    bob = Store(db, annotator="bob")
    alice.label(ids["img000.png"], cat)
    alice.set_multi_label()
    alice.label_set(ids["img001.png"], {bird, cat})
    bob.label_set(ids["img001.png"], [cat, bird])
    alice.label_set(ids["img002.png"], [])
    bob.label_set(ids["img002.png"], [dog])
    alice.skip(ids["img003.png"])
    alice.label_set(ids["img004.png"], {dog, cat})
    bob.label_set(ids["img004.png"], {cat, dog})
    bob.close()
    alice.close()
    return data, db


def fresh_db(tmp_path: Path, data: Path, name: str, *, multi: bool = True,
             classes=CLASSES) -> Path:
    """The same images and classes, no labels."""
    db = tmp_path / name
    store = Store(db, annotator="importer")
    store.set_classes(classes)
    store.sync_images(scan(data))
    if multi:
        store.set_multi_label()
    store.close()
    return db


def _export(db: Path, *args: str) -> str:
    code, out, err = run_cli("export", "--db", str(db), *args)
    assert code == 0, err
    return out


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _import(db: Path, source: Path, *args: str) -> tuple[int, str, str]:
    return run_cli("import", str(source), "--db", str(db), *args)


def _summary(db: Path, source: Path, *args: str) -> dict:
    code, out, err = _import(db, source, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def _sets(db: Path) -> dict[str, frozenset[str] | str]:
    """Each image's current state: its set of class names, or ``skip``."""
    store = Store(db)
    try:
        names = {c.id: c.name for c in store.classes()}
        result = {}
        for item in queue_of(store, "all"):
            state = store.current(item.id)
            if state.labeled:
                result[item.path] = frozenset(names[c] for c in state.classes)
            elif state.skipped:
                result[item.path] = "skip"
        return result
    finally:
        store.close()


# --- export -----------------------------------------------------------------------------------


def test_csv_joins_a_set_in_class_order_and_jsonl_holds_a_list(tmp_path: Path):
    _, db = multi_db(tmp_path)
    rows = _csv(_export(db))
    assert [(r["path"], r["label"], r["annotator"]) for r in rows] == [
        ("img000.png", "cat", "alice"),  # an older single label: a set of one
        ("img001.png", "cat;bird", "bob"),  # class order (cat, dog, bird), not the set's
        ("img002.png", "dog", "bob"),
        ("img004.png", "cat;dog", "bob")]
    assert list(rows[0]) == ["path", "label", "annotator", "labeled_at", "split"]
    rows = _jsonl(_export(db, "--format", "jsonl", "--annotator", "alice", "--include-skipped"))
    assert [(r["path"], r["label"]) for r in rows] == [
        ("img000.png", ["cat"]), ("img001.png", ["cat", "bird"]),
        ("img002.png", []),  # labeled with no class
        ("img003.png", None),  # skipped
        ("img004.png", ["cat", "dog"])]
    assert _csv(_export(db, "--annotator", "alice"))[2]["label"] == ""  # the empty set


def test_agreed_compares_whole_sets(tmp_path: Path):
    _, db = multi_db(tmp_path)
    rows = _jsonl(_export(db, "--format", "jsonl", "--agreed"))
    assert [(r["path"], r["label"], r["annotator"]) for r in rows] == [
        ("img001.png", ["cat", "bird"], "alice,bob"),
        ("img004.png", ["cat", "dog"], "alice,bob")]  # img002: {} and {dog} differ
    # a single label c and the set {c} agree
    store = Store(db, annotator="carol")
    ids, cls = _ids(store)
    store.label(ids["img000.png"], cls["cat"])
    store.close()
    assert [r["path"] for r in _csv(_export(db, "--agreed"))] == [
        "img000.png", "img001.png", "img004.png"]


def test_a_database_switched_to_multi_label_exports_lists_before_any_set(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 2)
    db = tmp_path / "l.db"
    store = Store(db)
    store.set_classes(CLASSES)
    store.sync_images(scan(data))
    ids, cls = _ids(store)
    store.label(ids["img000.png"], cls["dog"])
    assert _jsonl(_export(db, "--format", "jsonl"))[0]["label"] == "dog"  # single-label
    store.set_multi_label()
    store.close()
    assert _jsonl(_export(db, "--format", "jsonl"))[0]["label"] == ["dog"]


@pytest.mark.parametrize("args, fragment", [
    (["--format", "imagefolder"], "imagefolder holds one class per image: use --format csv, "
                                  "jsonl or hf"),
    (["--format", "csv", "--include-skipped"], "an empty label cell is the empty set"),
])
def test_what_a_multi_label_export_cannot_hold_is_refused(tmp_path: Path, args, fragment):
    data, db = multi_db(tmp_path)
    before = db_fingerprint(db)
    out = tmp_path / "out"
    code, _, err = run_cli("export", str(data), "--db", str(db), *args, "--out", str(out))
    assert_usage_error(code, err, fragment)
    assert not out.exists()
    assert db_fingerprint(db) == before


def test_a_class_name_holding_the_separator_is_refused_in_csv_only(tmp_path: Path):
    classes = [ClassSpec("cat", "1"), ClassSpec("dog;puppy", "2"), ClassSpec("bird", "3")]
    _, db = multi_db(tmp_path, classes=classes)
    out = tmp_path / "labels.csv"
    code, _, err = run_cli("export", "--db", str(db), "--out", str(out))
    assert_usage_error(code, err, "class 'dog;puppy' holds ';'")
    assert not out.exists()
    rows = _jsonl(_export(db, "--format", "jsonl"))
    assert rows[2]["label"] == ["dog;puppy"]


def test_hf_layout_writes_lists_in_metadata_jsonl(tmp_path: Path):
    data, db = multi_db(tmp_path)
    store = Store(db)
    ids, _ = _ids(store)
    store.conn.executemany("INSERT INTO splits (image_id, split) VALUES (?, ?)",
                           [(ids["img000.png"], "train"), (ids["img001.png"], "val")])
    store.close()
    out = tmp_path / "hf"
    code, _, err = run_cli("export", str(data), "--db", str(db), "--format", "hf",
                           "--annotator", "alice", "--out", str(out))
    assert code == 0, err
    assert sorted(p for p, kind in tree(out).items() if kind != "dir") == [
        "train/0000/img000.png", "train/0000/img002.png", "train/0000/img004.png",
        "train/metadata.jsonl", "val/0000/img001.png", "val/metadata.jsonl"]
    train = _jsonl((out / "train" / "metadata.jsonl").read_text(encoding="utf-8"))
    assert list(train[0]) == ["file_name", "label", "split", "path", "annotator",
                              "labeled_at"]
    assert [(r["file_name"], r["label"]) for r in train] == [
        ("0000/img000.png", ["cat"]), ("0000/img002.png", []), ("0000/img004.png", ["cat", "dog"])]
    assert (out / "train" / "0000" / "img000.png").resolve() == (data / "img000.png").resolve()


def test_hf_multi_label_export_loads_with_the_datasets_library(tmp_path: Path):
    datasets = pytest.importorskip(
        "datasets", reason="the Hugging Face datasets package is not installed (optional: "
                           "pip install datasets)")
    data, db = multi_db(tmp_path)
    out = tmp_path / "hf"
    code, _, err = run_cli("export", str(data), "--db", str(db), "--format", "hf",
                           "--annotator", "alice", "--out", str(out))
    assert code == 0, err
    loaded = datasets.load_dataset("imagefolder", data_dir=str(out),
                                   cache_dir=str(tmp_path / "hf-cache"))
    train = loaded["train"]
    assert sorted(zip(train["path"], train["label"], strict=True)) == [
        ("img000.png", ["cat"]), ("img001.png", ["cat", "bird"]), ("img002.png", []),
        ("img004.png", ["cat", "dog"])]
    assert train[0]["image"].size == (32, 24)


# --- import -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_multi_label_export_round_trips_exactly(tmp_path: Path, fmt: str):
    data, db = multi_db(tmp_path)
    for annotator in ([], ["--annotator", "alice"]):  # alice's holds the empty set
        first = tmp_path / f"first{len(annotator)}.{fmt}"
        _export(db, "--format", fmt, *annotator, "--out", str(first))
        target = fresh_db(tmp_path, data, f"fresh-{fmt}{len(annotator)}.db")
        summary = _summary(target, first, "--yes")
        assert summary["new"] == len(first.read_text().splitlines()) - (fmt == "csv")
        assert summary["bad_rows"] == summary["conflicts"] == 0
        second = tmp_path / f"second{len(annotator)}.{fmt}"
        _export(target, "--format", fmt, "--out", str(second))
        assert second.read_bytes() == first.read_bytes()


def test_multi_label_flag_switches_a_single_label_database_only_when_importing(tmp_path: Path):
    data, db = multi_db(tmp_path)
    source = tmp_path / "labels.jsonl"
    _export(db, "--format", "jsonl", "--out", str(source))
    target = fresh_db(tmp_path, data, "single.db", multi=False)
    before = db_fingerprint(target)
    code, out, err = _import(target, source, "--multi-label")  # a dry run
    assert code == 0, err
    assert "would switch to multi-label mode" in out
    assert db_fingerprint(target) == before
    code, out, err = _import(target, source, "--multi-label", "--yes")
    assert code == 0, err
    assert "is now multi-label mode" in out
    store = Store(target)
    assert store.multi_label
    store.close()
    assert _sets(target) == {"img000.png": {"cat"}, "img001.png": {"cat", "bird"},
                             "img002.png": {"dog"}, "img004.png": {"cat", "dog"}}


@pytest.mark.parametrize("name, text, fragment", [
    ("list.jsonl", '{"path": "img000.png", "label": ["cat", "dog"]}\n',
     "line 1: a list of labels, but this database is single-label"),
    ("set.csv", "path,label\nimg000.png,cat\nimg001.png,cat;dog\n",
     "line 3: label 'cat;dog' holds ';' and is no class"),
])
def test_a_single_label_database_never_gets_a_set(tmp_path: Path, name, text, fragment):
    data, _ = multi_db(tmp_path)
    db = fresh_db(tmp_path, data, "single.db", multi=False)
    source = tmp_path / name
    source.write_text(text)
    before = db_fingerprint(db)
    for args in ([], ["--yes"], ["--yes", "--create-classes"]):
        code, _, err = _import(db, source, *args)
        assert_usage_error(code, err, fragment)
        assert db_fingerprint(db) == before


@pytest.mark.parametrize("name, text, fragment", [
    ("number.jsonl", '{"path": "img000.png", "label": ["cat", 3]}\n',
     "line 1: the labels must be text, not 3"),
    ("blank.jsonl", '{"path": "img000.png", "label": ["cat", " "]}\n',
     "line 1: an empty class name in the labels"),
    ("object.jsonl", '{"path": "img000.png", "label": {"cat": 1}}\n',
     "line 1: the label must be text"),
    ("blank.csv", "path,label\nimg000.png,cat;;dog\n", "line 2: an empty class name"),
])
def test_a_malformed_set_is_one_line_and_nothing_is_written(tmp_path: Path, name, text,
                                                             fragment):
    data, _ = multi_db(tmp_path)
    db = fresh_db(tmp_path, data, "fresh.db")
    source = tmp_path / name
    source.write_text(text)
    before = db_fingerprint(db)
    code, _, err = _import(db, source, "--yes")
    assert_usage_error(code, err, fragment)
    assert db_fingerprint(db) == before


def test_conflicts_compare_whole_sets_and_the_dry_run_counts_them(tmp_path: Path):
    data, db = multi_db(tmp_path)
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(row) for row in [
        {"path": "img000.png", "label": ["cat"]},  # stored single label cat: unchanged
        {"path": "img001.png", "label": ["bird", "cat"]},  # the same set: unchanged
        {"path": "img002.png", "label": ["dog", "bird"]},  # {dog} stored: conflict
        {"path": "img003.png", "label": ["bird"]},  # skipped: new
        {"path": "img004.png", "label": "cat"},  # a string: the set {cat}, a conflict
        {"path": "img005.png", "label": []},  # the empty set: new
        {"path": "img005.png", "label": None},  # no label
    ]) + "\n")
    before = db_fingerprint(db)
    plan = _summary(db, source)
    assert db_fingerprint(db) == before
    assert (plan["new"], plan["unchanged"], plan["conflicts"], plan["changed"],
            plan["no_label"], plan["multi_label"]) == (2, 2, 2, 0, 1, True)
    assert plan["conflict_examples"] == [
        "img002.png: dog in the store, dog;bird in the file (line 3)",
        "img004.png: cat;dog in the store, cat in the file (line 5)"]
    done = _summary(db, source, "--yes")
    assert {k: done[k] for k in ("new", "unchanged", "conflicts")} == {
        "new": 2, "unchanged": 2, "conflicts": 2}
    state = _sets(db)
    assert (state["img002.png"], state["img003.png"], state["img004.png"],
            state["img005.png"]) == ({"dog"}, {"bird"}, {"cat", "dog"}, frozenset())
    again = _summary(db, source, "--yes", "--on-conflict", "overwrite")
    assert (again["changed"], again["unchanged"], again["new"]) == (2, 4, 0)
    state = _sets(db)
    assert (state["img002.png"], state["img004.png"]) == ({"dog", "bird"}, {"cat"})


def test_csv_sets_and_the_empty_cell(tmp_path: Path):
    data, _ = multi_db(tmp_path)
    db = fresh_db(tmp_path, data, "fresh.db")
    source = tmp_path / "in.csv"
    source.write_text("path,label\nimg000.png, bird ; cat\nimg001.png,\nimg002.png,dog\n")
    summary = _summary(db, source, "--yes")
    assert (summary["new"], summary["no_label"]) == (3, 0)
    assert _sets(db) == {"img000.png": {"cat", "bird"}, "img001.png": frozenset(),
                         "img002.png": {"dog"}}


def test_unknown_classes_inside_a_set_are_reported_or_created(tmp_path: Path):
    data, _ = multi_db(tmp_path)
    db = fresh_db(tmp_path, data, "fresh.db")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(row) for row in [
        {"path": "img000.png", "label": ["cat", "fox"]},
        {"path": "img001.png", "label": ["fox", "owl"]},
        {"path": "img002.png", "label": ["dog"]}]) + "\n")
    summary = _summary(db, source, "--yes")
    assert summary["unknown_classes"] == {"fox": 2, "owl": 1}
    assert (summary["unknown_rows"], summary["new"]) == (2, 1)
    assert _sets(db) == {"img002.png": {"dog"}}
    summary = _summary(db, source, "--yes", "--create-classes")
    assert summary["created_classes"] == ["fox", "owl"]
    assert (summary["new"], summary["unchanged"]) == (2, 1)
    assert _sets(db) == {"img000.png": {"cat", "fox"}, "img001.png": {"fox", "owl"},
                         "img002.png": {"dog"}}
    assert _csv(_export(db))[1]["label"] == "fox;owl"  # created classes come last, in order


# --- statistics -------------------------------------------------------------------------------


def _hand_worked_db(tmp_path: Path) -> Path:
    """Classes A and B; x and y on four images:

    ====  ======  =====
    img   x       y
    ====  ======  =====
    0     {A}     {A}
    1     {A,B}   {A}
    2     {}      {B}
    3     {B}     {B}
    ====  ======  =====
    """
    data = tmp_path / "data"
    make_images(data, 4)
    db = tmp_path / "hand.db"
    x = Store(db, annotator="x")
    x.set_classes([ClassSpec("A", "1"), ClassSpec("B", "2")])
    x.sync_images(scan(data))
    x.set_multi_label()
    ids, cls = _ids(x)
    a, b = cls["A"], cls["B"]
    y = Store(db, annotator="y")
    for n, (xs, ys) in enumerate([({a}, {a}), ({a, b}, {a}), (set(), {b}), ({b}, {b})]):
        x.label_set(ids[f"img{n:03d}.png"], xs)
        y.label_set(ids[f"img{n:03d}.png"], ys)
    x.close()
    y.close()
    return db


def test_multi_label_agreement_against_hand_worked_values(tmp_path: Path):
    db = _hand_worked_db(tmp_path)
    store = Store(db)
    result = statistics.compute(store)
    store.close()
    ag = result.agreement
    assert ag.multi_label and ag.images == 4 and ag.raters == {2: 4}
    # Exact sets: x and y agree on images 0 and 3 (po = 1/2). Cohen: x's sets {A}, {A,B}, {},
    # {B} a quarter each; y's {A}, {B} a half each: pe = 1/4 * 1/2 * 2 = 1/4, kappa = 1/3.
    (pair,) = ag.pairs
    assert (pair.a, pair.b, pair.images, pair.observed) == ("x", "y", 4, 0.5)
    assert math.isclose(pair.kappa, 1 / 3)
    # Fleiss over the 8 ratings: {A} 3/8, {A,B} 1/8, {} 1/8, {B} 3/8: pe = 20/64;
    # kappa = (1/2 - 20/64) / (1 - 20/64) = 3/11.
    assert math.isclose(ag.observed, 0.5)
    assert math.isclose(ag.fleiss_kappa, 3 / 11)
    class_a, class_b = ag.per_class
    # A: x 1100, y 1100: perfect.
    assert (class_a.name, class_a.images) == ("A", 2)
    assert class_a.fleiss_kappa == 1.0 and class_a.pairs[0].kappa == 1.0
    assert class_a.pairs[0].confusion == [[2, 0], [0, 2]]
    # B: x 0101, y 0011: [[neither 1, only y 1], [only x 1, both 1]], po = pe = 1/2: kappa 0;
    # Fleiss: per image 1, 0, 0, 1 (mean 1/2), p(B) = 4/8: pe = 1/2, kappa 0.
    assert (class_b.name, class_b.images) == ("B", 3)
    assert class_b.pairs[0].confusion == [[1, 1], [1, 1]]
    assert class_b.pairs[0].observed == 0.5
    assert math.isclose(class_b.pairs[0].kappa, 0.0, abs_tol=1e-12)
    assert math.isclose(class_b.fleiss_kappa, 0.0, abs_tol=1e-12)
    assert math.isclose(class_b.observed, 0.5)
    assert ag.confusion == [] and pair.confusion == []


def test_multi_label_stats_json_has_shares_of_labeled_images_and_per_class_agreement(
        tmp_path: Path):
    _, db = multi_db(tmp_path)
    code, out, err = run_cli("stats", "--db", str(db), "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["multi_label"] is True
    assert result["labeled"] == 4  # img000, 001, 002, 004 (current: bob's {dog} on 002)
    assert [(c["name"], c["count"], c["share"]) for c in result["classes"]] == [
        ("cat", 3, 0.75), ("dog", 2, 0.5), ("bird", 1, 0.25)]
    ag = result["agreement"]
    assert ag["multi_label"] is True
    assert [c["name"] for c in ag["per_class"]] == ["cat", "dog", "bird"]
    # dog: img001 neither, img002 only bob (alice {}), img004 both
    dog = ag["per_class"][1]
    assert dog["pairs"][0]["confusion"] == [[1, 1], [0, 1]]
    assert ag["pairs"][0]["observed"] == pytest.approx(2 / 3)
    code, out, err = run_cli("stats", "--db", str(db))
    assert code == 0, err
    assert "Per class (multi-label)" in out and "exact sets: Fleiss' kappa" in out


def test_single_label_stats_are_not_multi_label(tmp_path: Path):
    data, _ = multi_db(tmp_path)
    db = fresh_db(tmp_path, data, "single.db", multi=False)
    store = Store(db)
    ids, cls = _ids(store)
    store.label(ids["img000.png"], cls["cat"])
    result = statistics.compute(store)
    store.close()
    assert not result.multi_label and not result.agreement.multi_label
    assert result.agreement.per_class == []


def test_an_imagefolder_imports_into_a_multi_label_database_as_sets_of_one(tmp_path: Path):
    data, _ = multi_db(tmp_path)
    db = fresh_db(tmp_path, data, "fresh.db")
    sorted_folder = tmp_path / "sorted"
    for cls, image in (("dog", "img000.png"), ("bird", "img001.png")):
        (sorted_folder / cls).mkdir(parents=True)
        (sorted_folder / cls / image).write_bytes((data / image).read_bytes())
    summary = _summary(db, sorted_folder, "--yes")
    assert (summary["new"], summary["multi_label"]) == (2, True)
    assert _sets(db) == {"img000.png": {"dog"}, "img001.png": {"bird"}}
    assert _jsonl(_export(db, "--format", "jsonl"))[0]["label"] == ["dog"]
