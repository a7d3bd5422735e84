"""Keypress to next image shown, in the labeling screen (issue 3).

Run (defaults finish in about 2 minutes; the first run also writes the big JPEGs, ~30 s):

    /work/venv/bin/python benchmarks/latency.py
    /work/venv/bin/python benchmarks/latency.py --renderers halfcell,sixel --presses 60

The app runs headless (``App.run_test``, 160x48 cells). For every dataset and renderer there are
two runs, each on a fresh temporary database:

* paced: a class key every 250 ms through ``Pilot.press``; latency = frame time minus the time
  the press started, waiting for each image before the next press. "hit" = the next image was
  already decoded by the prefetcher (no "loading" placeholder shown).
* burst: the keys are posted to the app back-to-back without waiting (like keys that arrive
  in one read over a slow SSH link). Keys that land while the next image is still decoding
  are dropped with a bell; latency is measured per successful advance, from the time its key
  was posted.

Two clocks are reported:

* ``painted``: the app's own ``LabelScreen.stage.painted`` record (appended after the refresh that
  followed showing the image).
* ``frame``: measured by this script: the end of the first frame (``App._display``) whose
  compositor update rendered the image widget holding the new image. The headless driver
  skips turning a frame into terminal output; this script does that work (without writing
  it anywhere) so the frame time includes it, as in a real terminal (``--no-serialise`` to
  skip it).

``unseen`` counts labels given to an image that no frame had drawn by the time the key was
handled, which the labeler is meant to rule out.

Datasets: ``sample`` (sample_data/, classes 0-9 from its tui-label.toml) and ``big`` (50
generated 6000x4000 JPEGs, quality 90, cached under the system temp folder). When a run
reaches the end of the queue it starts the queue again (not timed).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import tempfile
import time
import weakref
from pathlib import Path

from _common import (
    SAMPLE_DATA,
    add_machine_args,
    fmt_ms,
    open_store,
    p50_95_99,
    print_table,
    start,
)

# A headless console has no terminal to ask and would fall back to 16 colours; serialise frames
# for the common truecolor terminal instead (set the variable yourself to choose another).
os.environ.setdefault("TEXTUAL_COLOR_SYSTEM", "truecolor")

SIZE = (160, 48)
TIMEOUT = 60.0


# -- data ---------------------------------------------------------------------------------


def big_jpegs(count: int, width: int, height: int) -> Path:
    """``count`` gradient-plus-noise JPEGs of ``width x height``, made once and cached."""
    import numpy as np
    from PIL import Image

    folder = Path(tempfile.gettempdir()) / f"tui-label-bench-jpegs-{width}x{height}"
    folder.mkdir(exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"img{i:04d}.jpg").exists()]
    if missing:
        print(f"generating {len(missing)} {width}x{height} JPEGs in {folder} ...", flush=True)
    rng = np.random.default_rng(3)
    noise = rng.integers(-18, 19, size=(height, width, 1), dtype=np.int16)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    for i in missing:
        r = np.random.default_rng(i)
        a, b = r.uniform(-1, 1, 2)
        c0, c1 = r.uniform(0, 255, (2, 3)).astype(np.float32)
        t = np.clip((a * x + b * y + 1) / 2, 0, 1)  # a linear gradient between two colours
        pixels = c0 + (c1 - c0) * t + np.roll(noise, int(r.integers(width)), axis=1)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        tmp = folder / f".tmp{i:04d}.jpg"  # hidden: scan() skips it if a run is cut short
        image.save(tmp, "JPEG", quality=90)
        tmp.rename(folder / f"img{i:04d}.jpg")
    for extra in sorted(folder.glob("img*.jpg"))[count:]:  # a bigger --big-count earlier
        extra.unlink()
    return folder


def dataset(name: str, args) -> tuple[Path, list, str]:
    """(root, classes, key to press) for a dataset name."""
    from tui_label.config.settings import ClassSpec, load_config_classes, resolve_classes

    if name == "sample":
        classes = resolve_classes(load_config_classes(SAMPLE_DATA / "tui-label.toml"))
        return SAMPLE_DATA, classes, "1"
    if name == "big":
        root = big_jpegs(args.big_count, 6000, 4000)
        return root, [ClassSpec("a", "1"), ClassSpec("b", "2")], "1"
    raise SystemExit(f"unknown dataset {name!r}")


# -- instrumentation ----------------------------------------------------------------------


class Probe:
    """Hooks on one running app: bells, placeholders, and which image each frame drew."""

    active: Probe | None = None

    def __init__(self, app, serialise: bool) -> None:
        self.app = app
        self.screen = app.label_screen
        self.serialise = serialise
        self.bells = 0
        self.loading = 0
        self.frames: list[tuple[int | None, float]] = []  # (image id drawn, frame end)
        self._ids: dict[int, tuple[weakref.ref, int]] = {}  # id(PIL image) -> image id
        self._drawn = None

    def install(self) -> None:
        from textual._compositor import CompositorUpdate

        from tui_label.tui.widgets.image_view import ImageView

        app, screen, view = self.app, self.screen, self.screen.query_one(ImageView)
        Probe.active = self

        def bell() -> None:
            self.bells += 1

        show_image, show_message, display = view.show_image, view.show_message, app._display

        def hooked_show_image(decoded) -> None:
            current = screen.session.current
            self._ids[id(decoded.image)] = (weakref.ref(decoded.image), current.id)
            show_image(decoded)

        def hooked_show_message(text: str) -> None:
            self.loading += text.startswith("loading")
            show_message(text)

        def hooked_display(target_screen, update) -> None:
            if self.serialise and isinstance(update, CompositorUpdate):
                update.render_segments(app.console)  # what a real driver would write
            display(target_screen, update)
            if self._drawn is not None:
                ref, image_id = self._ids.get(id(self._drawn), (None, None))
                self.frames.append((image_id if ref and ref() is self._drawn else None,
                                    time.perf_counter()))
                self._drawn = None

        app.bell, app._display = bell, hooked_display
        view.show_image, view.show_message = hooked_show_image, hooked_show_message

    # Both are polled every millisecond on the app's own event loop: look back from the newest
    # entry and stop at ``since``, so the polling itself costs the app next to nothing.

    def frame_time(self, image_id: int, since: float) -> float | None:
        return _first_at_or_after(((i, t) for i, t in reversed(self.frames)), image_id, since)

    def painted_time(self, image_id: int, since: float) -> float | None:
        return _first_at_or_after(((p.image_id, p.painted_time)
                                   for p in reversed(self.screen.stage.painted)), image_id, since)


def _first_at_or_after(newest_first, image_id: int, since: float) -> float | None:
    """The earliest time >= ``since`` for ``image_id`` in (id, time) pairs, newest first."""
    found = None
    for i, t in newest_first:
        if t < since:
            break
        if i == image_id:
            found = t
    return found


def _hook_renderers() -> None:
    """Tell the active probe whenever an image widget renders (class-level, once)."""
    from textual_image.widget import TGPImage, UnicodeImage

    from tui_label.tui.widgets.picture import HalfcellPicture, SixelPicture

    for cls in (HalfcellPicture, SixelPicture, TGPImage, UnicodeImage):
        def render_lines(self, crop, _orig=cls.render_lines):
            lines = _orig(self, crop)
            if Probe.active is not None and self.image is not None and lines:
                Probe.active._drawn = self.image
            return lines

        cls.render_lines = render_lines


class GcPauses:
    """Full (generation 2) garbage collections and how long each held the process."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []  # (start, end) perf_counter
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._start = time.perf_counter()
            else:
                self.spans.append((self._start, time.perf_counter()))

    def overlaps(self, start: float, end: float) -> bool:
        return any(s < end and e > start for s, e in self.spans)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> str:
        longest = max((e - s for s, e in self.spans), default=0.0)
        return f"{len(self.spans)}x {fmt_ms(longest)}"


class LiveSpans:
    """When the live head worked during the presses: its refits (ModelLoop.refit on the worker
    thread, which waits for the head's process) and the application of each result on the UI
    thread (session.reorder). ``report`` splits the presses by what overlapped them."""

    def __init__(self, screen) -> None:
        self.fits: list[tuple[float, float]] = []
        self.applied: list[tuple[float, float]] = []
        real_fit, real_reorder = screen.loop.refit, screen.session.reorder

        def refit(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real_fit(*args, **kwargs)
            finally:
                self.fits.append((start, time.perf_counter()))

        def reorder(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real_reorder(*args, **kwargs)
            finally:
                self.applied.append((start, time.perf_counter()))

        screen.loop.refit = refit
        screen.session.reorder = reorder

    def report(self, windows: list[tuple[float, float]]) -> None:
        def split(spans, before=0.0):
            hit = [any(s < f and e > t0 - before for s, e in spans) for t0, f in windows]
            inside = [f - t0 for (t0, f), h in zip(windows, hit, strict=True) if h]
            outside = [f - t0 for (t0, f), h in zip(windows, hit, strict=True) if not h]
            return inside, outside

        for name, spans, before in (("refit in flight", self.fits, 0.0),
                                    ("a result applied up to 250 ms before", self.applied, 0.25)):
            inside, outside = split(spans, before)
            longest = max((e - s for s, e in spans), default=0.0)
            print(f"  live head, {name}: {len(spans)} spans (longest {fmt_ms(longest)} ms); "
                  f"presses inside {len(inside)}: p50/p95/p99 "
                  f"{' / '.join(map(fmt_ms, p50_95_99(inside)))}; others {len(outside)}: "
                  f"{' / '.join(map(fmt_ms, p50_95_99(outside)))}", flush=True)
        slowest = sorted(windows, key=lambda w: w[0] - w[1])[:4]
        index = {w: n for n, w in enumerate(windows)}

        def since(spans, t, end):
            past = [sp[end] for sp in spans if sp[end] <= t]
            return fmt_ms(t - max(past)) if past else "-"

        for t0, f in slowest:
            print(f"  slow press #{index[(t0, f)]} {fmt_ms(f - t0)} ms: since a refit started "
                  f"{since(self.fits, t0, 0)} ms, ended {since(self.fits, t0, 1)} ms, "
                  f"since a result applied {since(self.applied, t0, 1)} ms", flush=True)


async def wait_until(check, what: str):
    deadline = time.perf_counter() + TIMEOUT
    while (value := check()) is None:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)
    return value


async def shown(probe: Probe, image_id: int, since: float) -> tuple[float, float]:
    """Wait for an image's painted record and its frame; return both times."""
    painted = await wait_until(lambda: probe.painted_time(image_id, since), "painted")
    frame = await wait_until(lambda: probe.frame_time(image_id, since), "frame")
    return painted, frame


async def from_the_top(probe: Probe) -> None:
    """Start the queue again and wait for its first image (not timed)."""
    screen, since = probe.screen, time.perf_counter()
    screen.call_later(screen.set_order, screen.session.order)
    session = screen.session
    await wait_until(lambda: session.queue[0].id if session.pos == 0 else None, "restart")
    await shown(probe, screen.session.queue[0].id, since)


# -- the two modes ------------------------------------------------------------------------


async def paced(pilot, probe: Probe, keys: list[str], presses: int, interval: float) -> dict:
    """Press ``keys`` in turn, one every ``interval`` seconds."""
    screen = probe.screen
    painted, frames, windows, hits = [], [], [], 0
    for n in range(presses):
        key = keys[n % len(keys)]
        if screen.session.pos >= len(screen.session.queue) - 1:
            await from_the_top(probe)
            await asyncio.sleep(interval)  # the restart is not a keypress: keep the pace
        target, loading = screen.session.queue[screen.session.pos + 1].id, probe.loading
        t0 = time.perf_counter()
        await pilot.press(key)
        p, f = await shown(probe, target, t0)
        painted.append(p - t0)
        frames.append(f - t0)
        windows.append((t0, f))
        hits += probe.loading == loading
        await asyncio.sleep(max(0.0, t0 + interval - time.perf_counter()))
    return {"painted": painted, "frame": frames, "advanced": presses, "dropped": probe.bells,
            "hits": f"{hits}/{presses}", "unseen": "-", "undrawn": "-", "windows": windows}


async def burst(pilot, probe: Probe, key: str, presses: int) -> dict:
    from textual import events

    app, screen = probe.app, probe.screen
    posted: list[float] = []
    handled: list[tuple[int | None, int | None, float]] = []  # (labeled id, next id, when)
    action_label = screen.action_label

    def hooked_action_label(class_id: int) -> None:
        bells, before, when = probe.bells, screen.session.current, time.perf_counter()
        action_label(class_id)
        ok, after = probe.bells == bells, screen.session.current
        handled.append((before.id if ok else None, after.id if ok and after else None, when))

    screen.action_label = hooked_action_label
    left = presses
    while left:
        if screen.session.pos >= len(screen.session.queue) - 1:
            await from_the_top(probe)
        # never run off the queue's end
        n = min(left, len(screen.session.queue) - 1 - screen.session.pos)
        for _ in range(n):
            event = events.Key(key, key)
            event.set_sender(app)
            posted.append(time.perf_counter())
            app.post_message(event)
        await wait_until(lambda: True if len(handled) == len(posted) else None, "keys")
        last = next((h for h in reversed(handled) if h[1] is not None), None)
        if last:
            await shown(probe, last[1], last[2])
        left -= n
    await asyncio.sleep(0.2)  # let the last frames land
    painted, frames, unseen = [], [], 0
    for t_post, (labeled, target, when) in zip(posted, handled, strict=True):
        if target is None:
            continue
        p, f = probe.painted_time(target, t_post), probe.frame_time(target, t_post)
        if p is not None:
            painted.append(p - t_post)
        if f is not None:
            frames.append(f - t_post)
        if not any(i == labeled and t <= when for i, t in probe.frames):
            unseen += 1
    advanced = sum(h[1] is not None for h in handled)
    return {"painted": painted, "frame": frames, "advanced": advanced,
            "dropped": presses - advanced, "hits": "-", "unseen": unseen,
            "undrawn": advanced - len(frames)}


def save_model(store) -> None:
    """A finished run with predictions for every image (random, seeded), as the engine leaves
    one: suggestions are shown for every image, as after a real run."""
    import numpy as np

    from tui_label.assist.model_view import run_predictions_dir
    from tui_label.assist.predictions import PredictionSet, top_k_rows

    classes = [c for c in store.classes() if c.hotkey]
    ids = np.array(sorted(r[0] for r in store.queue_rows()), dtype=np.int64)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(ids), len(classes))) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    run_id = store.create_run("small-cnn", {"epochs": 1}, [c.name for c in classes])
    store.update_run(run_id, status="finished")
    emb = rng.normal(size=(len(ids), 128)).astype(np.float16)
    PredictionSet(ids, probs.astype(np.float32), [c.name for c in classes], emb).save(
        run_predictions_dir(store.path, run_id))
    store.save_predictions(run_id, "model", top_k_rows(ids, probs, [c.id for c in classes]))


async def run_one(root: Path, classes, key: str, renderer_name: str, mode: str, args) -> dict:
    from tui_label.media.decode import Prefetcher
    from tui_label.tui.app import LabelApp
    from tui_label.tui.widgets.image_view import load_renderer

    with tempfile.TemporaryDirectory(prefix="tui-label-bench-") as tmp:
        store = open_store(Path(tmp) / "bench.db", root, classes)
        if args.with_model:
            save_model(store)
        prefetcher = Prefetcher(workers=args.decode_workers) if args.decode_workers else None
        app = LabelApp(store, root, load_renderer(renderer_name), rescan=False,
                       prefetcher=prefetcher, live_head_every=args.live_head)
        try:
            async with app.run_test(size=SIZE) as pilot:
                probe = Probe(app, serialise=not args.no_serialise)
                screen = app.label_screen
                painted = screen.stage.painted
                await wait_until(lambda: painted[0] if painted else None,
                                 "first image")
                if args.with_model:  # the model loads after the first image: wait for it
                    await wait_until(lambda: screen.session.model, "model")
                    await wait_until(lambda: app.screen.query_one("#suggestions").display
                                     or None, "suggestions shown")
                    if args.live_head:  # let a first refit start its worker first
                        await asyncio.sleep(1)
                spans = LiveSpans(screen) if args.with_model and args.live_head else None
                probe.install()
                await from_the_top(probe)  # a first frame through the probe
                if args.gc_freeze:  # experiment: keep start-up objects out of full collections
                    gc.freeze()
                profiler = cProfile.Profile() if args.profile else None
                with GcPauses() as pauses:
                    if profiler:
                        profiler.enable()
                    if mode == "paced":
                        # Every class in turn: with a model, the live head then has something
                        # to learn (labels of one class give it nothing to fit).
                        keys = [c.key for c in classes]
                        result = await paced(pilot, probe, keys, args.presses,
                                             args.interval_ms / 1000)
                    else:
                        result = await burst(pilot, probe, key, args.presses)
                    if profiler:
                        profiler.disable()
                result["gc"] = pauses.summary()
                # Which presses had a full collection inside their wait, and the rest's p95.
                windows = result.get("windows", [])
                hit = [pauses.overlaps(t0, f) for t0, f in windows]
                clean = [f - t0 for (t0, f), h in zip(windows, hit, strict=True) if not h]
                result["gc_hit"] = f"{sum(hit)}/{len(hit)}" if windows else "-"
                result["p95_clean"] = fmt_ms(p50_95_99(clean)[1]) if windows else "-"
                if spans is not None:
                    spans.report(windows)
                gc.unfreeze()
                Probe.active = None
        finally:
            store.close()
    if profiler:
        print(f"--- cProfile, UI thread: {renderer_name} {mode} (top {args.profile} by own time)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    return result


class Trainer:
    """A training run in the background, started as the panel starts one (nice 10, JSON
    events), on the sample digits with every image labeled from the ground truth."""

    def __init__(self) -> None:
        import subprocess
        import sys
        import threading

        sys.path.insert(0, str(SAMPLE_DATA.parent))
        from tests.helpers.data import sample_store

        self._tmp = tempfile.TemporaryDirectory(prefix="tui-label-bench-train-")
        db = Path(self._tmp.name) / "train.db"
        sample_store(db, per_class=1000).close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--epochs", "100000",
             "--events", "json", "--nice", "10"],
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        for line in self.proc.stdout:  # wait until it really trains
            if '"event": "step"' in line:
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self._tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presses", type=int, default=200, help="key presses per run")
    parser.add_argument("--interval-ms", type=float, default=250.0, help="pacing (paced mode)")
    parser.add_argument("--datasets", default="sample,big", help="sample,big")
    parser.add_argument("--renderers", default="halfcell", help="e.g. halfcell,sixel")
    parser.add_argument("--modes", default="paced,burst", help="paced,burst")
    parser.add_argument("--big-count", type=int, default=50, help="generated 6000x4000 JPEGs")
    parser.add_argument("--decode-workers", type=int, default=0,
                        help="experiment: Prefetcher threads (default: the app's own)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="experiment: gc.freeze() once the first image is shown")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile the UI thread with cProfile, print the top N functions")
    parser.add_argument("--no-serialise", action="store_true",
                        help="leave out turning frames into terminal output")
    parser.add_argument("--live-head", type=int, default=10, metavar="N",
                        help="refit the live head every N labels (0: off)")
    parser.add_argument("--with-model", action="store_true",
                        help="a finished run with predictions: suggestions shown on every image")
    parser.add_argument("--while-training", action="store_true",
                        help="measure each run idle, then again while a training run goes on "
                             "(issue 4: p99 at most 2x the idle figure)")
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)
    print(f"headless {SIZE[0]}x{SIZE[1]} cells, {args.presses} presses per run, paced every "
          f"{args.interval_ms:.0f} ms, frame serialisation "
          f"{'off' if args.no_serialise else os.environ['TEXTUAL_COLOR_SYSTEM']}")
    _hook_renderers()
    rows = []
    idle_p99: dict[tuple, float] = {}
    phases = ["idle", "training"] if args.while_training else ["idle"]
    runs = [(phase, name, renderer, mode) for phase in phases
            for name in args.datasets.split(",") for renderer in args.renderers.split(",")
            for mode in args.modes.split(",")]
    trainer = None
    for phase, name, renderer, mode in runs:
        root, classes, key = dataset(name, args)
        if phase == "training" and trainer is None:
            trainer = Trainer()
        r = asyncio.run(run_one(root, classes, key, renderer, mode, args))
        pp, fp = p50_95_99(r["painted"]), p50_95_99(r["frame"])
        verdict = "-"
        if phase == "idle":
            idle_p99[(name, renderer, mode)] = fp[2]
            if mode == "paced":
                verdict = "pass" if fp[1] < 0.016 and fp[2] < 0.033 else "FAIL"
        elif mode == "paced":
            ratio = fp[2] / idle_p99[(name, renderer, mode)]
            verdict = f"p99 {ratio:.2f}x idle: " + ("pass" if ratio <= 2 else "FAIL")
        rows.append([phase, renderer, name, mode, r["advanced"], r["dropped"], r["hits"],
                     r["unseen"], r["undrawn"], *map(fmt_ms, pp), *map(fmt_ms, fp), r["gc"],
                     r["gc_hit"], r["p95_clean"], verdict])
        print(f"  done: {phase} {renderer} {name} {mode}", flush=True)
    if trainer is not None:
        trainer.stop()
    print()
    print("latency in ms; target (paced, frame): p95 < 16, p99 < 33")
    print_table(["phase", "renderer", "data", "mode", "advanced", "dropped", "hits", "unseen",
                 "undrawn",
                 "painted p50", "p95", "p99", "frame p50", "p95", "p99", "full gc", "gc hit",
                 "p95 no gc", "target"], rows)


if __name__ == "__main__":
    main()
