"""Names that stay inside the output folder: one harmless path component per class or file
name (``safe_name``), never two alike in a folder (``UniqueNames``)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

# Room for a "-N" suffix under the usual 255-byte limit on a file name.
MAX_NAME_BYTES = 200
# Path separators (both kinds), NUL and every other control character (newlines included).
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


def safe_name(name: str) -> str:
    """``name`` as one harmless path component: separators, NUL and control characters
    (newlines) become ``_``, a leading ``-`` (an option to a shell tool) or ``.`` (hidden,
    ``..``) becomes ``_``, an empty name is ``_``, and it is cut to ``MAX_NAME_BYTES`` bytes
    (keeping a short extension). An absolute path or ``../x`` thus stays one name."""
    safe = _UNSAFE.sub("_", name)
    if safe[:1] in ("-", "."):
        safe = "_" + safe[1:]
    if len(safe.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        stem, ext = _split_ext(safe)
        room = MAX_NAME_BYTES - len(ext.encode("utf-8", "surrogateescape"))
        stem = stem.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
        safe = stem + ext
    return safe or "_"


def _split_ext(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    return (stem, ext) if stem and len(ext) <= 16 else (name, "")


class UniqueNames:
    """Safe names in one folder, never two alike: a name taken already (ignoring case, for
    case-insensitive file systems) gets ``-2``, ``-3``... before its extension."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken = {name.casefold() for name in reserved}
        self._next: dict[str, int] = {}

    def claim(self, name: str, *, keep_ext: bool = True) -> str:
        """A new safe name for ``name`` in this folder."""
        base = safe_name(name)
        if base.casefold() not in self._taken:
            self._taken.add(base.casefold())
            return base
        stem, ext = _split_ext(base) if keep_ext else (base, "")
        n = self._next.get(base.casefold(), 1)
        while True:
            n += 1
            candidate = f"{stem}-{n}{ext}"
            if candidate.casefold() not in self._taken:
                break
        self._next[base.casefold()] = n
        self._taken.add(candidate.casefold())
        return candidate

