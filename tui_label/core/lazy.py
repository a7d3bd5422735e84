"""A package's names, loaded from their modules on first use (PEP 562): for packages whose
modules need numpy or Pillow, so that a command reading one constant of them starts without.

    __getattr__ = lazy(__name__, {"Uploader": "uploader", "prepare": "uploader"})

``from package import name`` and ``package.name`` both work; the module is imported once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: ``names`` maps each name to its submodule."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        namespace[name] = value  # the next lookup finds it without this function
        return value

    return __getattr__


def exports(**modules: tuple[str, ...]) -> dict[str, str]:
    """``{name: module}`` from ``module=(names, ...)``: the table ``lazy`` takes."""
    return {name: module for module, names in modules.items() for name in names}
