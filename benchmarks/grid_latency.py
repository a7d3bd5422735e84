"""Keypress to the next grid page drawn, in the grid review (issue 18).

Run (the first run also writes the photo-sized JPEGs, about a minute):

    /work/venv/bin/python benchmarks/grid_latency.py
    /work/venv/bin/python benchmarks/grid_latency.py --renderers halfcell --datasets sample

The real app runs headless (``App.run_test``, 160x48 cells, as ``benchmarks/latency.py``,
whose data, fake model and helpers this reuses) with ``grid=True`` (``tui-label label --grid``)
on a fresh temporary database with a finished run (random predictions for every image, so each
page has a class). For every dataset and renderer:

* paced: ``enter`` (label the page as its class) once every ``--interval-ms`` (2 s: a person
  glancing over a page); latency = from the press to the next page drawn. "hit" = the next
  page's thumbnails were all decoded and prepared when the key came (``GridScreen``
  decodes the next page once a page is drawn).
* burst: ``--burst`` enters posted back to back (a key repeated, or arriving in one read),
  then a pause of ``--interval-ms``. The first labels the page; the ones that come before the
  next page is drawn must be refused (a page is never labeled unseen). Latency per page moved
  to, from the time its key was posted.

Two clocks: ``drawn`` is the app's own (``GridSession.mark_drawn``, after the refresh that
drew the page: keys count from then); ``frame`` is the end of the first frame (``App._display``)
after the page's thumbnails were handed to their views, turned into terminal output as a real
driver would (``--no-serialise`` to skip that). ``refreshes`` is the number of compositor
updates between the key and the page drawn (one page should cost one or two, not one a cell).

When the order runs out of pages the run undoes its pages and starts the grid again on the
same queue (not timed). Datasets: ``sample`` (sample_data/, 500 digits) and ``photos`` (JPEGs
of ``--photo-size``, made once under the system temp folder).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

from _common import add_machine_args, fmt_ms, open_store, p50_95_99, print_table, start
from latency import big_jpegs, dataset, save_model, wait_until

os.environ.setdefault("TEXTUAL_COLOR_SYSTEM", "truecolor")

SIZE = (160, 48)


class GridProbe:
    """Hooks on one running app: when each page was handed to the views, drawn, and framed."""

    def __init__(self, app, serialise: bool) -> None:
        self.app, self.serialise = app, serialise
        self.generation = 0  # a new GridSession (a restart) starts its pages at 0 again
        self.drawn: dict[tuple[int, int], float] = {}
        self.displayed: dict[tuple[int, int], float] = {}
        self.framed: dict[tuple[int, int], float] = {}
        self.updates = 0  # compositor updates so far
        self.refused = 0

    def install(self, screen) -> None:
        from textual._compositor import CompositorUpdate

        app, probe = self.app, self
        display, mark, maybe = app._display, type(screen.grid).mark_drawn, screen._maybe_display
        result = screen._result

        def hooked_display(target_screen, update) -> None:
            if isinstance(update, CompositorUpdate):
                if self.serialise:
                    update.render_segments(app.console)  # what a real driver would write
                probe.updates += 1
            display(target_screen, update)
            now = time.perf_counter()
            for key in [k for k in probe.displayed if k not in probe.framed]:
                probe.framed[key] = now

        def hooked_maybe(number: int) -> None:
            before = screen.grid.drawn
            maybe(number)
            key = (probe.generation, number)
            if key not in probe.displayed and before != number and number == \
                    screen.grid.page.number and not any(
                    f is not None and not f.done() for f in screen._futures):
                probe.displayed[key] = time.perf_counter()

        def hooked_result(outcome) -> None:
            probe.refused += outcome.notice is not None
            result(outcome)

        app._display = hooked_display
        screen._maybe_display, screen._result = hooked_maybe, hooked_result
        screen.app.bell = lambda: None

        def hooked_mark(session, number: int) -> None:
            mark(session, number)
            probe.drawn.setdefault((probe.generation, number), time.perf_counter())

        type(screen.grid).mark_drawn = hooked_mark
        self._restore = lambda: setattr(type(screen.grid), "mark_drawn", mark)

    def uninstall(self) -> None:
        self._restore()

    def key(self, screen) -> tuple[int, int]:
        return self.generation, screen.grid.page.number


async def page_drawn(probe: GridProbe, key: tuple[int, int]) -> tuple[float, float]:
    drawn = await wait_until(lambda: probe.drawn.get(key), f"page {key} drawn")
    frame = await wait_until(lambda: probe.framed.get(key), f"page {key} framed")
    return drawn, frame


async def from_the_top(probe: GridProbe, screen) -> None:
    """Undo the grid's pages and start it again on the same queue (not timed)."""
    from tui_label.labeling.grid import GridSession

    old = screen.grid
    for step in reversed(old.steps):
        old.store.undo_batch(step)
    screen.grid = GridSession(old.store, old.queue, old.per_page, old.classes,
                              page_class=old.page_class, suggest=old.suggest)
    probe.generation += 1
    screen.chosen = 0
    screen.show_page()
    await page_drawn(probe, probe.key(screen))


def next_ready(screen) -> bool:
    """Whether the thumbnails of the page after this one are decoded and prepared already."""
    from tui_label.tui.widgets.image_view import ImageView

    views = [cell.query_one(ImageView) for cell in screen._cells()]
    return all(view.geometry() is not None and screen.prefetcher.prepared(i.id, view.geometry())
               for i, view in zip(screen.grid.ahead(), views, strict=False))


def next_sent(screen) -> bool | None:
    """Kitty graphics: whether the next page's images are uploaded whole already (else None)."""
    from tui_label.tui.widgets.image_view import ImageView

    if screen.renderer.name != "kitty":
        return None
    views = [cell.query_one(ImageView) for cell in screen._cells()]
    futures = [screen.prefetcher.request(i.id, screen.root / i.path, view.geometry())
               for i, view in zip(screen.grid.ahead(), views, strict=False)]
    return all(f.done() and f.result().prepared is not None and f.result().prepared.full.complete
               for f in futures)


def last_page(screen) -> bool:
    return not screen.grid.ahead()


async def paced(pilot, probe: GridProbe, screen, presses: int, interval: float) -> dict:
    drawn, frames, hits, refreshes, sent = [], [], 0, [], 0
    for _ in range(presses):
        if last_page(screen):
            await from_the_top(probe, screen)
            await asyncio.sleep(interval)  # the restart is not a keypress: keep the pace
        hits += next_ready(screen)
        sent += bool(next_sent(screen))
        target = (probe.generation, screen.grid.page.number + 1)
        updates = probe.updates
        t0 = time.perf_counter()
        await pilot.press("enter")
        d, f = await page_drawn(probe, target)
        drawn.append(d - t0)
        frames.append(f - t0)
        refreshes.append(probe.updates - updates)
        await asyncio.sleep(max(0.0, t0 + interval - time.perf_counter()))
    return {"drawn": drawn, "frame": frames, "moved": presses, "refused": probe.refused,
            "hits": f"{hits}/{presses}", "refreshes": refreshes,
            "sent": f"{sent}/{presses}" if screen.renderer.name == "kitty" else "-"}


async def burst(pilot, probe: GridProbe, screen, presses: int, size: int,
                interval: float) -> dict:
    from textual import events

    app = probe.app
    drawn, frames, moved, posted_keys = [], [], 0, 0
    while posted_keys < presses:
        if last_page(screen):
            await from_the_top(probe, screen)
            await asyncio.sleep(interval)
        target = (probe.generation, screen.grid.page.number + 1)
        labeled_before = len(screen.grid.steps)
        t0 = time.perf_counter()
        for _ in range(size):
            event = events.Key("enter", "\r")
            event.set_sender(app)
            app.post_message(event)
        posted_keys += size
        d, f = await page_drawn(probe, target)
        await pilot.pause()
        moved += len(screen.grid.steps) - labeled_before
        drawn.append(d - t0)
        frames.append(f - t0)
        await asyncio.sleep(max(0.0, t0 + interval - time.perf_counter()))
    return {"drawn": drawn, "frame": frames, "moved": moved, "refused": probe.refused,
            "hits": "-", "refreshes": [], "sent": "-"}


class LocalKitty:
    """Kitty graphics' other end, headless: what the uploader writes is dropped and every
    ``CSI c`` answered about 1 ms later on one thread of answers, as a real terminal's come
    through the driver's one input thread (a local terminal), so the uploader pre-sends as it
    does in a real kitty. (A timer thread for each answer, as before, made thousands of
    threads a run contend for the uploader's lock and the GIL.)"""

    def __init__(self) -> None:
        import queue
        import threading

        from tui_label.terminal import kitty

        self.uploader = kitty.Uploader(self)
        self.written = 0
        self._answers: queue.SimpleQueue[float] = queue.SimpleQueue()
        threading.Thread(target=self._answer, daemon=True, name="answers").start()

    def __call__(self, data: bytes) -> None:
        from tui_label.terminal import kitty

        self.written += len(data)
        for _ in range(data.count(kitty.DA1)):
            self._answers.put(time.perf_counter() + 0.001)

    def _answer(self) -> None:
        from tui_label.terminal import kitty

        while True:
            due = self._answers.get()
            time.sleep(max(0.0, due - time.perf_counter()))
            self.uploader.on_reply(kitty.Reply(attributes=(62, 22)))


def load(name: str):
    """The renderer without asking a terminal (there is none headless)."""
    from tui_label.terminal.probe import Detection
    from tui_label.tui.widgets.image_view import load_renderer

    return load_renderer(name, detection=Detection(None, name, "headless benchmark"))


async def run_one(root: Path, classes, renderer_name: str, mode: str, args) -> dict:
    from tui_label.tui.app import LabelApp
    from tui_label.tui.screens.grid import GridScreen

    profiler = None
    with tempfile.TemporaryDirectory(prefix="tui-label-bench-grid-") as tmp:
        store = open_store(Path(tmp) / "bench.db", root, classes)
        save_model(store)
        app = LabelApp(store, root, load(renderer_name), rescan=False, live_head_every=0,
                       grid=True)
        if renderer_name == "kitty":  # the app's one uploader (tui/kitty_driver.uploader_for)
            app._kitty_uploader = LocalKitty().uploader
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(lambda: app.screen if isinstance(app.screen, GridScreen)
                                 else None, "the grid")
                screen = app.screen
                await wait_until(lambda: True if screen.grid.drawn == 0 else None, "page 1")
                probe = GridProbe(app, serialise=not args.no_serialise)
                probe.install(screen)
                try:
                    shape = f"{screen.cols}x{screen.rows}"
                    await asyncio.sleep(args.interval_ms / 1000)  # the next page decodes
                    profiler = cProfile.Profile() if args.profile else None
                    if profiler:
                        profiler.enable()
                    if mode == "paced":
                        result = await paced(pilot, probe, screen, args.presses,
                                             args.interval_ms / 1000)
                    else:
                        result = await burst(pilot, probe, screen, args.presses, args.burst,
                                             args.interval_ms / 1000)
                    if profiler:
                        profiler.disable()
                finally:
                    probe.uninstall()
                result["shape"] = shape
        finally:
            store.close()
    if profiler:
        print(f"--- cProfile, UI thread: {renderer_name} {mode} (top {args.profile} by own time)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    return result


def grid_dataset(name: str, args) -> tuple[Path, list]:
    from tui_label.config.settings import ClassSpec

    if name == "photos":
        width, height = (int(v) for v in args.photo_size.split("x"))
        return big_jpegs(args.photo_count, width, height), [ClassSpec("a", "1"),
                                                            ClassSpec("b", "2")]
    root, classes, _key = dataset(name, args)
    return root, classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presses", type=int, default=30, help="enter presses per run")
    parser.add_argument("--interval-ms", type=float, default=2000.0,
                        help="between pages (paced) or bursts")
    parser.add_argument("--burst", type=int, default=3, help="enters posted at once (burst)")
    parser.add_argument("--datasets", default="sample,photos", help="sample,photos")
    parser.add_argument("--renderers", default="halfcell,sixel,kitty",
                        help="halfcell,sixel,kitty")
    parser.add_argument("--modes", default="paced,burst", help="paced,burst")
    parser.add_argument("--photo-size", default="4000x3000", help="the photos' pixels")
    parser.add_argument("--photo-count", type=int, default=140, help="how many photos")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile the UI thread with cProfile, print the top N functions")
    parser.add_argument("--no-serialise", action="store_true",
                        help="leave out turning frames into terminal output")
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)
    print(f"headless {SIZE[0]}x{SIZE[1]} cells, {args.presses} enters per run, a page every "
          f"{args.interval_ms:.0f} ms (burst: {args.burst} at once), frame serialisation "
          f"{'off' if args.no_serialise else os.environ['TEXTUAL_COLOR_SYSTEM']}", flush=True)
    rows = []
    for name in args.datasets.split(","):
        root, classes = grid_dataset(name, args)
        for renderer in args.renderers.split(","):
            for mode in args.modes.split(","):
                r = asyncio.run(run_one(root, classes, renderer, mode, args))
                dp, fp = p50_95_99(r["drawn"]), p50_95_99(r["frame"])
                verdict = ("pass" if dp[1] < 0.050 and fp[1] < 0.050 else "FAIL") \
                    if mode == "paced" else "-"
                refreshes = r["refreshes"]
                rows.append([renderer, name, r["shape"], mode, r["moved"], r["refused"],
                             r["hits"], r["sent"], max(refreshes) if refreshes else "-",
                             *map(fmt_ms, dp), *map(fmt_ms, fp), verdict])
                print(f"  done: {renderer} {name} {mode}", flush=True)
    print()
    print("latency in ms, key to next page; target (paced): p95 < 50")
    print_table(["renderer", "data", "grid", "mode", "pages", "refused", "hits", "pre-sent",
                 "max refreshes", "drawn p50", "p95", "p99", "frame p50", "p95", "p99",
                 "target"], rows)


if __name__ == "__main__":
    main()
