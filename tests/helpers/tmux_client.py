"""A real tmux server on a socket of its own, and a client attached to it in a pty that this
helper plays the terminal of: every byte tmux sends the terminal outside is recorded (what
would reach a user's terminal over ssh)."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from pathlib import Path

# what a login over ssh does not have: no COLORTERM (ssh does not forward it), not in tmux
NOT_OVER_SSH = ("TMUX", "TMUX_PANE", "COLORTERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION",
                "KITTY_WINDOW_ID", "TEXTUAL")


def tui_label_script() -> str:
    """The console script installed beside this Python (what a user runs)."""
    script = Path(sys.executable).parent / "tui-label"
    assert script.exists(), f"tui-label is not installed in {script.parent}"
    return str(script)


def ssh_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_OVER_SSH}
    env.update(extra)
    return env


class TmuxServer:
    """``tmux -L SOCKET -f CONF``; session "t" runs ``command`` once ``release`` is called (so
    that a client can attach first: tmux then knows the terminal outside)."""

    def __init__(self, tmp: Path, conf: str, command: str, size: tuple[int, int] = (100, 30)
                 ) -> None:
        self.socket = f"tl-{uuid.uuid4().hex[:10]}"
        self.ready = tmp / f"{self.socket}.ready"
        conf_path = tmp / f"{self.socket}.conf"
        conf_path.write_text(conf)
        repo = Path(__file__).resolve().parents[2]
        self.tmux("-f", str(conf_path), "new-session", "-d", "-s", "t", "-x", str(size[0]),
                  "-y", str(size[1]),
                  f"sh -c 'while [ ! -e {self.ready} ]; do sleep 0.1; done; cd {repo}; "
                  f"{command}; echo EXITED $?; sleep 60'")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True, env=ssh_env(), timeout=10).stdout

    def release(self) -> None:
        self.ready.touch()

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "t")

    def pane_title(self) -> str:
        return self.tmux("display-message", "-p", "-t", "t", "#{pane_title}").strip()

    def wait_screen(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in (screen := self.screen()):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; screen was:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       env=ssh_env())


class TmuxClient:
    """``tmux attach`` in a pty of ``size`` cells, with ``TERM=term``; this object is its
    terminal: it records what tmux writes and answers XTVERSION with ``xtversion`` and the
    secondary device attributes with ``da2`` (None: no answer, as many terminals)."""

    def __init__(self, server: TmuxServer, term: str, xtversion: str | None = None,
                 da2: str | None = None, size: tuple[int, int] = (100, 30)) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", size[1], size[0], size[0] * 10, size[1] * 20))
        self.xtversion, self.da2 = xtversion, da2
        self.proc = subprocess.Popen(["tmux", "-L", server.socket, "attach", "-t", "t"],
                                     stdin=slave, stdout=slave, stderr=slave,
                                     env=ssh_env(TERM=term), start_new_session=True)
        os.close(slave)
        self.master = master
        self.data = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 20
        while not server.tmux("list-clients").strip():
            assert time.monotonic() < deadline, "the tmux client never attached"
            time.sleep(0.1)
        if xtversion:  # tmux asks on attach; it knows the terminal once answered
            assert self.wait_for(lambda d: b"\x1b[>q" in d, 20), "tmux never asked XTVERSION"
        time.sleep(0.5)  # its answers to tmux's queries are in

    def _read(self) -> None:
        while True:
            try:
                if not select.select([self.master], [], [], 0.2)[0]:
                    continue
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk
            if b"\x1b[>q" in chunk and self.xtversion:
                self.write(f"\x1bP>|{self.xtversion}\x1b\\".encode())
            if b"\x1b[>c" in chunk and self.da2:
                self.write(self.da2.encode())

    def write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def output(self) -> bytes:
        with self.lock:
            return bytes(self.data)

    def wait_for(self, predicate, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.output()):
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        try:
            os.close(self.master)
        except OSError:
            pass
