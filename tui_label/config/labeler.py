"""The labeler's options, from one source: each ``LabelerOptions`` field carries its help text,
default, command-line flag and whether a ``tui-label.toml`` may set it. The ``tui-label label``
and ``demo`` options (``cli/label.py``), the ``tui-label.toml`` keys and their checks, and the
app's defaults are all made from these fields.

Precedence, field by field: the command line, then the ``tui-label.toml``, then what the
database stores, then the field's default (``LabelerOptions.resolve``).

No click and no textual here.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

from tui_label.config.fidelity import LINKS, MIN_PIXELS
from tui_label.core import orders
from tui_label.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RENDERERS = ("auto", "kitty", "sixel", "halfcell", "unicode")


@dataclass(frozen=True)
class Setting:
    """How one labeler option is offered to a person.

    ``flag``: the command-line option ("" for none; a bool's flag switches away from its
    default, so ``--no-suggestions`` sets ``suggestions`` to False). ``toml``: a
    ``tui-label.toml`` key of the field's name. ``{default}`` in ``help`` is the default.
    ``minimum``/``maximum`` bound a number (checked on the command line and in the toml).
    """

    help: str
    flag: str = ""
    toml: bool = False
    metavar: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | float | None = None
    maximum: int | float | None = None
    show_default: bool = False


def _opt(default: Any, help: str, **spec: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(help, **spec)})


@dataclass(frozen=True)
class LabelerOptions:
    """How one labeling session runs (the defaults without a flag or a toml)."""

    renderer: str = _opt("auto", "How to draw images; auto detects kitty graphics and sixel, "
                         "else half blocks.", flag="--renderer", choices=RENDERERS,
                         show_default=True)
    order: str = _opt("auto", "Which images to show first: auto (typical first until a run "
                      f"has predictions, then unlabeled first), {orders.usage()}.",
                      flag="--order", show_default=True)
    annotator: str | None = _opt(None, "Name recorded with each label (default: your login "
                                 "name).", flag="--annotator")
    suggestions: bool = _opt(True, "Hide the model's suggestions, for an unbiased pass (also "
                             "'suggestions = false' in tui-label.toml).",
                             flag="--no-suggestions", toml=True)
    live_head_every: int = _opt(10, "Refit the live head on the stored embeddings after every "
                                "N new labels; 0 turns it off [default: {default}, or "
                                "live_head_every in tui-label.toml].", flag="--live-head",
                                metavar="N", minimum=0, toml=True)
    auto_train: int = _opt(0, "Start a training run (the panel's settings) after every N new "
                           "labels when none is going; 0 is off.", flag="--auto-train",
                           metavar="N", minimum=0, show_default=True)
    overlap: float | None = _opt(None, "A share F (0 to 1) of the images goes to two annotators "
                                 "or more, neither seeing the other's label, to measure "
                                 "agreement; stored in the database for the whole team "
                                 "[default: overlap in tui-label.toml, else the stored share, "
                                 "else 0].", flag="--overlap", metavar="F", minimum=0,
                                 maximum=1, toml=True)
    multi_label: bool = _opt(False, "Several classes per image: class keys toggle, enter saves "
                             "the set and moves on. The database remembers it (also "
                             "'multi_label = true' in tui-label.toml); labels given so far "
                             "become sets of one.", flag="--multi-label", toml=True)
    grid: bool = _opt(False, "Open the grid review: pages of thumbnails, one key labels a "
                      "page (G switches in the labeler; also 'grid = true' in "
                      "tui-label.toml).", flag="--grid", toml=True)
    link: str | None = _opt(None, "'slow' for a link of a few Mbit/s or less (SSH over a VPN "
                            "or a hotel's wifi): fewer colours and pixels per image, about "
                            "half the bytes [default: link in tui-label.toml, else default].",
                            flag="--link", choices=tuple(LINKS), toml=True)
    max_pixels: int | None = _opt(None, "Send at most N pixels per image (kitty graphics keep "
                                  "their size, in less detail; sixel images get smaller) "
                                  "[default: max_pixels in tui-label.toml, else --link's].",
                                  flag="--max-pixels", metavar="N", minimum=MIN_PIXELS,
                                  toml=True)

    @classmethod
    def resolve(cls, cli: Mapping[str, Any] | None = None,
                toml: Mapping[str, Any] | None = None,
                stored: Mapping[str, Any] | None = None) -> LabelerOptions:
        """Each field from the first of the command line, the ``tui-label.toml`` and the
        database that gives it (a value that is not None), else its default. Each layer is
        ``{field name: value}``; a name that is no field is a ``KeyError``."""
        layers = [layer for layer in (cli, toml, stored) if layer]
        names = {f.name for f in labeler_fields()}
        for layer in layers:
            unknown = set(layer) - names
            if unknown:
                raise KeyError(sorted(unknown)[0])
        values = {}
        for f in labeler_fields():
            given = [layer[f.name] for layer in layers if layer.get(f.name) is not None]
            if given:
                values[f.name] = given[0]
        return cls(**values)


@dataclass(frozen=True)
class LabelerField:
    """One ``LabelerOptions`` field with what the command line and the toml need."""

    name: str
    kind: type  # str, int, float or bool
    optional: bool  # None is allowed (not given: a later layer or the default holds)
    default: Any
    setting: Setting

    @property
    def dest(self) -> str:
        """The name the command line's value goes by (``no_suggestions`` for the flag
        ``--no-suggestions``)."""
        return self.setting.flag.lstrip("-").replace("-", "_")

    @property
    def help(self) -> str:
        return self.setting.help.replace("{default}", str(self.default))

    def toml_error(self, path: Path) -> str:
        """What a bad value of this key in ``path`` is told with."""
        s = self.setting
        if self.kind is bool:
            rule = "true or false"
        elif s.choices:
            rule = f"one of {', '.join(map(repr, s.choices))}"
        elif self.kind is int:
            rule = f"a whole number, {s.minimum:,} or more"
        else:
            rule = f"a number from {s.minimum:g} to {s.maximum:g}"
        return f"{path}: {self.name!r} must be {rule}"

    def check(self, value: Any) -> bool:
        """Whether a toml value is good for this field (of its type, in its range)."""
        s = self.setting
        if self.kind is bool or isinstance(value, bool):
            return self.kind is bool and isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str) and (not s.choices or value in s.choices)
        if not isinstance(value, int if self.kind is int else int | float):
            return False
        return ((s.minimum is None or value >= s.minimum)
                and (s.maximum is None or value <= s.maximum))


@cache
def labeler_fields() -> tuple[LabelerField, ...]:
    """Every ``LabelerOptions`` field, in declaration order."""
    hints = typing.get_type_hints(LabelerOptions)
    result = []
    for f in fields(LabelerOptions):
        kind, optional = hints[f.name], False
        if isinstance(kind, UnionType) or typing.get_origin(kind) is typing.Union:
            kind, optional = next(a for a in typing.get_args(kind) if a is not NoneType), True
        assert f.default is not MISSING, f.name
        result.append(LabelerField(f.name, kind, optional, f.default, f.metadata["setting"]))
    return tuple(result)


def toml_keys() -> tuple[str, ...]:
    """The labeler's settings a ``tui-label.toml`` may hold beside ``classes``."""
    return tuple(f.name for f in labeler_fields() if f.setting.toml)


def command_layer(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options given on the command line, from its values by ``LabelerField.dest``: a
    flag that was not given and a value left out (None) are left out."""
    layer: dict[str, Any] = {}
    for f in labeler_fields():
        if not f.setting.flag:
            continue
        value = values.get(f.dest)
        if f.kind is bool:
            if value:
                layer[f.name] = not f.default
        elif value is not None:
            layer[f.name] = value
    return layer


def read_toml(path: Path) -> dict[str, Any]:
    """A ``tui-label.toml``, parsed; raises ``UsageError`` for a bad file or an unknown key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    known = ("classes", *toml_keys())
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UsageError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(known)})")
    return data


def toml_layer(path: Path | None) -> dict[str, Any]:
    """The labeler's settings a ``tui-label.toml`` gives (``{}`` without one), checked.

    Raises:
        UsageError: an unreadable file, an unknown key, or a bad value (one line).
    """
    if path is None:
        return {}
    data = read_toml(path)
    layer: dict[str, Any] = {}
    for f in labeler_fields():
        if f.setting.toml and f.name in data:
            value = data[f.name]
            if not f.check(value):
                raise UsageError(f.toml_error(path))
            layer[f.name] = float(value) if f.kind is float else value
    return layer


def load_config_settings(path: Path | None) -> LabelerOptions:
    """The labeler's options a ``tui-label.toml`` makes (defaults for what it leaves out)."""
    return LabelerOptions.resolve(toml=toml_layer(path))


DEFAULTS = LabelerOptions()  # the app's defaults
