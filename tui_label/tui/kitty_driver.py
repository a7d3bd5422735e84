"""The kitty renderer's input driver: Textual's Linux driver, with the terminal's replies taken
out of the input before Textual's parser would turn them into key presses, handed to the app's
one ``tui_label.terminal.kitty.Uploader`` (``uploader_for``).

Every renderer but unicode runs on it (``driver_class``): a late answer to the start-up probe
is dropped, never read as a class key. Version pin (pyproject.toml, ``textual>=8.2,<9``):
``KittyDriver.run_input_thread`` follows Textual 8's ``LinuxDriver.run_input_thread``, and
``ReplyParser`` extends its private ``XTermParser``.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import Any

from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from tui_label.terminal import kitty

HOLD_S = 0.15  # a lone ESC held back this long is passed on (it was the Escape key)


class ReplyParser(XTermParser):
    """Textual's input parser, minus the terminal's graphics and device attribute replies,
    which go to ``sink`` instead (on the input thread)."""

    def __init__(self, sink: Callable[[kitty.Reply], None], debug: bool = False,
                 on_input: Callable[[], None] = lambda: None) -> None:
        self._filter = kitty.ReplyFilter()
        self._sink = sink
        self._on_input = on_input
        super().__init__(debug)

    def feed(self, data: str):
        if not data:  # end of input
            held = self._filter.flush()
            if held:
                yield from super().feed(held)
            yield from super().feed("")
            return
        text, replies = self._filter.feed(data)
        if text:
            self._on_input()  # before the replies: a key's placement should not wait
        for reply in replies:
            self._sink(reply)
        if text:
            yield from super().feed(text)

    def tick(self):
        since = self._filter.held_since
        if since is not None and time.monotonic() - since > HOLD_S:
            yield from super().feed(self._filter.flush())
        yield from super().tick()


def hang_up() -> None:
    """The terminal is gone: end this process as the kernel does when a terminal hangs up
    (and under ``nohup``, which ignores that signal, end it all the same)."""
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        os._exit(128 + signal.SIGHUP)
    os.kill(os.getpid(), signal.SIGHUP)


class KittyDriver(LinuxDriver):
    """Linux driver whose input thread filters replies out (see ``ReplyParser``).

    ``reply_sink`` is set by the picture once mounted; replies before that are dropped.
    """

    reply_sink: Callable[[kitty.Reply], None] | None = None
    input_seen: Callable[[], None] | None = None  # a key (or other input) was read

    def _reply(self, reply: kitty.Reply) -> None:
        if self.reply_sink is not None:
            self.reply_sink(reply)

    def _input(self) -> None:
        if self.input_seen is not None:
            self.input_seen()

    def run_input_thread(self) -> None:
        # Textual 8's LinuxDriver.run_input_thread with ReplyParser in place of XTermParser,
        # and a terminal that is gone (end of file, or EIO: its pty's other side closed) is a
        # hangup: Textual would poll the dead descriptor in a busy loop, a core at 100% for
        # as long as nobody kills it. Every label is already committed.
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = ReplyParser(self._reply, self._debug, self._input)
        feed, tick = parser.feed, parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def process_selector_events(selector_events, final: bool = False) -> None:
            for last, (_key, mask) in loop_last(selector_events):
                if mask & selectors.EVENT_READ:
                    try:
                        raw = os.read(fileno, 1024 * 4)
                    except OSError:
                        raw = b""
                    if not raw and not final:
                        hang_up()
                        return
                    unicode_data = decode(raw, final=final and last)
                    if not unicode_data:
                        break
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(0.1))
            selector.unregister(self.fileno)
            process_selector_events(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass


def uploader_for(app: Any, planner: kitty.Planner | None = None) -> kitty.Uploader:
    """The app's one uploader, writing through its driver (with ``planner``, on its link)."""
    found = getattr(app, "_kitty_uploader", None)
    if found is None:
        driver = app._driver  # noqa: SLF001 (Textual has no public handle on it)

        def write(data: bytes) -> None:
            if app._driver is not None:  # noqa: SLF001
                app._driver.write(data.decode("ascii"))  # noqa: SLF001

        found = kitty.Uploader(write, planner=planner)
        if planner is not None:
            found.link = planner.link  # what the uploader measures, the planner reads
        if isinstance(driver, KittyDriver):
            driver.reply_sink = found.on_reply
            driver.input_seen = found.hold
        app._kitty_uploader = found
        app.set_interval(1.0, found.tick)  # one timer, however many pictures (a grid)
    return found
