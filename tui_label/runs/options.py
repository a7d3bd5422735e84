"""Training settings, from one source: each ``TrainOptions`` field carries its help text,
default and choices. The ``tui-label train`` options (``train/cli.py``), the trainer's command
line (``command_args``) and the panel's settings are all made from these fields.

No torch and no click here: the labeler builds a command line and reads the panel's text
without loading either.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

from tui_label.errors import UsageError
from tui_label.runs.model_names import SMALL_CNN, check_model_name

DEVICES = ("auto", "cpu", "cuda", "mps")
BALANCE = ("none", "loss", "sampler")
EVENTS = ("auto", "json", "human")
MAX_LR = 10.0
MAX_BATCH = 65_536  # images a step, over all processes
# The defaults that depend on the model: used by the properties below and quoted in the help.
SMALL_CNN_LR, FINE_TUNE_LR = 3e-3, 1e-3
SMALL_CNN_SIZE, FINE_TUNE_SIZE = 64, 224
# --unlabeled's default: this many unlabeled images while fewer than UNLABELED_UNTIL are
# labeled (where they help most; past it they would only slow each step).
UNLABELED_SAMPLE, UNLABELED_UNTIL = 2048, 2000

AUTO = "auto"  # how the panel writes "None: let the trainer decide"
# Where the processes of a --gpus/--nproc run are: may change on a resume (a machine's
# address, which of them this is).
PLACE_OPTIONS = ("nnodes", "node_rank", "master_addr", "master_port")
# What may be given with --resume: where the data and database are, and how this process (and
# its ranks) run. The run's own settings (model, epochs, learning rate, ...) come from the run.
RESUME_ALLOWED = ("db", "root", "device", "nice", "events", "resume", "gpus", "nproc",
                  *PLACE_OPTIONS)
TRUE_WORDS = ("yes", "true", "on", "1")
FALSE_WORDS = ("no", "false", "off", "0")


@dataclass(frozen=True)
class Spec:
    """How one option is offered to a person.

    ``auto`` says what the default ``None`` means (shown as the default in ``--help``);
    ``argument`` makes it the positional ``DIR``; ``hidden`` keeps it out of ``--help``.
    """

    help: str
    label: str = ""  # the panel's short name (default: the field name)
    choices: tuple[str, ...] = ()
    auto: str = ""
    argument: bool = False
    hidden: bool = False
    metavar: str = ""  # how --help names the value (default: its type)


def _opt(default: Any = MISSING, help: str = "", **spec: Any) -> Any:
    return field(default=default, metadata={"spec": Spec(help, **spec)})


@dataclass
class TrainOptions:
    """Everything one run needs; saved with the run and in each checkpoint."""

    db: Path = _opt(help="The SQLite database (default: DIR/tui-label.db, or a per-dataset "
                         "file in ~/.local/share/tui-label when DIR is read-only).")
    root: Path | None = _opt(None, "The dataset folder (default: the one the labeler "
                                   "recorded).", argument=True)
    model: str = _opt(SMALL_CNN, "small-cnn, or any torchvision classification model "
                                 "(resnet18, efficientnet_b0, convnext_tiny, vit_b_16, ...).")
    epochs: int = _opt(10, "Passes over the training images.")
    lr: float | None = _opt(None, "Peak learning rate.",
                            auto=f"{SMALL_CNN_LR:g} for small-cnn, else {FINE_TUNE_LR:g}")
    batch_size: int = _opt(64, "Images per optimizer step; the default is capped at the "
                               "training images without a warning.", label="batch")
    image_size: int | None = _opt(None, "Side of the square training images.", label="size",
                                  auto=f"{SMALL_CNN_SIZE} for small-cnn, else {FINE_TUNE_SIZE}")
    pretrained: bool | None = _opt(None, "Start from torchvision's pretrained weights.",
                                   auto="when available, else random weights with a warning")
    weights: Path | None = _opt(None, "Start from these weights (a state dict or a tui-label "
                                      "checkpoint).")
    freeze_backbone: bool = _opt(False, "Train only the new classification head.",
                                 label="freeze")
    device: str = _opt("auto", "Where to train.", choices=DEVICES)
    balance: str = _opt("none", "Counter class imbalance with a weighted loss or sampler.",
                        choices=BALANCE)
    val_fraction: float = _opt(0.2, "Share of labeled images held out for validation "
                                    "(stable per image).", label="val")
    hflip: bool = _opt(False, "Random horizontal flips (off: they harm digits, text, arrows).",
                       label="flip")
    unlabeled: int | None = _opt(None, "Also learn from up to N unlabeled images, drawn at "
                                       "random: where the model is sure of a lightly "
                                       "augmented copy, that class trains a strongly "
                                       "augmented one (FixMatch); 0: from the labels alone. "
                                       "Single-label runs.",
                                 auto=f"{UNLABELED_SAMPLE:,} while fewer than "
                                      f"{UNLABELED_UNTIL:,} images are labeled, else 0",
                                 label="unlab", metavar="N")
    seed: int = _opt(0, "Random seed: the initial weights, batch order and augmentation.")
    compile: bool = _opt(False, "Compile the model with torch.compile: a slower start, faster "
                                "steps (on CUDA).")
    folds: int | None = _opt(None, "Out-of-sample probabilities of the labeled images (for "
                                   "the suspect labels) from K fine-tuned models, each trained "
                                   "without one fold: K times the training time.",
                             auto="a linear head on the embeddings, 5 folds")
    multi_label: bool | None = _opt(None, "Train for sets of classes: a sigmoid per class "
                                          "with a binary cross-entropy loss.",
                                    auto="the database's mode (tui-label label --multi-label)",
                                    hidden=True)
    threshold: float = _opt(0.5, "Multi-label: a class is predicted when its probability "
                                 "reaches this; precision, recall, F1 and exact-match accuracy "
                                 "are measured at it.")
    nice: int = _opt(0, "Lower the trainer's CPU priority (the labeler starts it at 10).",
                     hidden=True)
    events: str = _opt("auto", "JSON lines on stdout, or readable lines on a terminal.",
                       choices=EVENTS)
    gpus: int | None = _opt(None, "Train on N GPUs of this machine: one process each, "
                                  "started by torchrun, with DDP (--batch-size is the global "
                                  "batch).", metavar="N")
    nproc: int | None = _opt(None, "Train in N processes on this machine with DDP (with "
                                   "--device cpu: the gloo backend on the CPU cores).",
                             metavar="N")
    nnodes: int = _opt(1, "Machines in a --gpus/--nproc run (torchrun's --nnodes).")
    node_rank: int = _opt(0, "This machine's place among --nnodes (0 holds the run).")
    master_addr: str = _opt("127.0.0.1", "Machine 0's address, for --nnodes above 1.")
    master_port: int = _opt(29500, "Machine 0's port, for --nnodes above 1.")
    resume: int | None = _opt(None, "Continue run RUN (cancelled or failed) from its last "
                                    "checkpoint: the same run, its epochs so far kept, its own "
                                    "settings and learning-rate schedule, in as many processes "
                                    "as it began with. Only DIR, --db, --device (default: the "
                                    "run's), --nice, --events, --gpus/--nproc and the machine "
                                    "options may be given with it.", metavar="RUN")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return SMALL_CNN_LR if self.model == SMALL_CNN else FINE_TUNE_LR

    @property
    def size(self) -> int:
        if self.image_size is not None:
            return self.image_size
        return SMALL_CNN_SIZE if self.model == SMALL_CNN else FINE_TUNE_SIZE

    def unlabeled_sample(self, labeled: int) -> int:
        """How many unlabeled images a run with ``labeled`` labeled ones learns from."""
        if self.multi_label:
            return 0
        if self.unlabeled is not None:
            return self.unlabeled
        return UNLABELED_SAMPLE if labeled < UNLABELED_UNTIL else 0

    def validate(self) -> None:
        """Raise ``UsageError`` (one line naming the option) for the first bad setting."""
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.lr is None or 0 < self.lr < math.inf, "--lr must be a positive number"),
            # (A larger rate only diverges; a huge one overflowed inside torch.)
            (self.lr is None or self.lr <= MAX_LR, f"--lr must be at most {MAX_LR:g}"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.batch_size <= MAX_BATCH,
             f"--batch-size must be at most {MAX_BATCH:,} (the global batch)"),
            (0 <= self.seed < 2**32, f"--seed must be between 0 and {2**32 - 1}"),
            (self.image_size is None or 8 <= self.image_size <= 4096,
             "--image-size must be between 8 and 4096"),
            (0 < self.val_fraction < 1, "--val-fraction must be between 0 and 1"),
            (self.unlabeled is None or self.unlabeled >= 0, "--unlabeled must be 0 or more"),
            (0 < self.threshold < 1, "--threshold must be between 0 and 1"),
            (self.folds is None or self.folds >= 2,
             "--folds must be at least 2 (one fold held out, the others to train on)"),
            (self.resume is None or self.resume >= 1, "--resume takes a run id (1 or more)"),
            (self.gpus is None or self.gpus >= 1, "--gpus must be at least 1"),
            (self.nproc is None or self.nproc >= 1, "--nproc must be at least 1"),
            (not (self.gpus and self.nproc), "give --gpus or --nproc, not both"),
            (self.nnodes >= 1, "--nnodes must be at least 1"),
            # (With --resume, the processes may be the run's: checked once it is read.)
            (self.resume is not None or 0 <= self.node_rank < self.nnodes,
             "--node-rank must be between 0 and --nnodes - 1"),
            (self.resume is not None or self.nnodes == 1 or bool(self.gpus or self.nproc),
             "--nnodes needs --gpus or --nproc (the processes on each machine)"),
            (1 <= self.master_port <= 65535, "--master-port must be between 1 and 65535"),
            *((getattr(self, f.name) in f.spec.choices,
               f"{f.flag} must be one of {', '.join(f.spec.choices)}")
              for f in option_fields() if f.spec.choices),
            (not (self.pretrained and self.weights),
             "--pretrained and --weights both choose starting weights: give one"),
            (self.weights is None or self.weights.is_file(),
             f"--weights file not found: {self.weights}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    def to_json(self) -> dict:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}

    def command_args(self) -> list[str]:
        """The same settings as ``tui-label train`` arguments (how the panel starts a run).

        Only settings that differ from their default are written, each as ``--name=value``
        (a value that starts with ``-`` stays a value); the folder comes last, after ``--``.
        """
        args = []
        for f in option_fields():
            value = getattr(self, f.name)
            if f.spec.argument or (f.has_default and value == f.default):
                continue
            if f.kind is bool:
                args.append(f.flag if value else f.negative_flag)
            else:
                args.append(f"{f.flag}={to_text(value)}")
        if self.root is not None:
            args += ["--", str(self.root)]
        return args

    @classmethod
    def from_settings(cls, db: Path, root: Path | None, settings: dict[str, str],
                      **fixed: Any) -> TrainOptions:
        """Options from the panel's text fields (``{field name: text}``), then ``fixed``.

        An empty field takes its default, ``auto`` means "let the trainer decide" where the
        option allows it. Raises ``UsageError`` for text that does not parse, a bad value or a
        model that is not small-cnn or a torchvision classification model.
        """
        by_name = {f.name: f for f in option_fields()}
        unknown = set(settings) - set(by_name)
        if unknown:
            raise UsageError(f"unknown training settings: {', '.join(sorted(unknown))}")
        values = {name: by_name[name].parse(text) for name, text in settings.items()}
        values = {k: v for k, v in values.items() if v is not MISSING}
        opts = cls(**{**values, "db": db, "root": root, **fixed})
        opts.validate()
        check_model_name(opts.model)  # as tui-label train would, without torchvision
        return opts


def check_resume_flags(given: Iterable[str]) -> None:
    """With ``--resume``, refuse the options (field names, as given on the command line) that
    would change the run's own settings: a run goes on as it began."""
    refused = [option_field(name).flag for name in given if name not in RESUME_ALLOWED]
    if refused:
        raise UsageError(f"--resume continues a run with its own settings: {', '.join(refused)} "
                         "cannot be given with it (only DIR, --db, --device, --nice, --events, and "
                         "--gpus/--nproc with the machine options)")


@dataclass(frozen=True)
class OptionField:
    """One ``TrainOptions`` field with what the CLI and the panel need to offer it."""

    name: str
    kind: type  # str, int, float, bool or Path
    optional: bool  # None is allowed ("auto": the trainer decides)
    default: Any  # MISSING when the field has none (``db``)
    spec: Spec

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def negative_flag(self) -> str:
        return "--no-" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.spec.label or self.name

    @property
    def default_text(self) -> str:
        """The default as the panel writes it."""
        return to_text(self.default) if self.has_default else ""

    def parse(self, text: str) -> Any:
        """The value of ``text`` typed in the panel; ``MISSING`` means "the default"."""
        text = text.strip()
        if text == "" or (text.lower() == AUTO and self.optional and not self.spec.choices):
            return None if self.optional and text else MISSING
        if self.kind is bool:
            if text.lower() in TRUE_WORDS:
                return True
            if text.lower() in FALSE_WORDS:
                return False
            raise UsageError(f"{self.label}: {text!r} is not yes or no")
        if self.kind in (int, float):
            try:
                return self.kind(text)
            except ValueError:
                raise UsageError(f"{self.label}: {text!r} is not a number") from None
        return self.kind(text)


def to_text(value: Any) -> str:
    """A value as a setting's text: ``auto`` for None, ``yes``/``no``, exact floats."""
    if value is None:
        return AUTO
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


@cache
def option_fields() -> tuple[OptionField, ...]:
    """Every ``TrainOptions`` field, in declaration order."""
    hints = typing.get_type_hints(TrainOptions)
    result = []
    for f in fields(TrainOptions):
        kind, optional = hints[f.name], False
        if isinstance(kind, UnionType) or typing.get_origin(kind) is typing.Union:
            args = [a for a in typing.get_args(kind) if a is not NoneType]
            kind, optional = args[0], True
        result.append(OptionField(f.name, kind, optional, f.default, f.metadata["spec"]))
    return tuple(result)


def option_field(name: str) -> OptionField:
    """The field called ``name`` (KeyError if there is none)."""
    for f in option_fields():
        if f.name == name:
            return f
    raise KeyError(name)
