"""Who and where this process is: the host name, the login name, and whether a pid lives."""

from __future__ import annotations

import getpass
import os
import socket

HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (of this host) is running: not gone, and not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0): check it is not one.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def default_annotator() -> str:
    """The login name, recorded with each label event ("unknown" where there is none)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
