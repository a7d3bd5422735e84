"""Training settings: plain defaults, saved with each run and in each checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tui_label.errors import UsageError

SMALL_CNN = "small-cnn"
DEVICES = ("auto", "cpu", "cuda", "mps")
BALANCE = ("none", "loss", "sampler")


@dataclass
class TrainOptions:
    db: Path
    root: Path | None = None  # dataset folder; default: the one the labeler recorded
    model: str = SMALL_CNN
    epochs: int = 10
    lr: float | None = None  # default: 3e-3 for small-cnn (from scratch), 1e-3 otherwise
    batch_size: int = 64
    image_size: int | None = None  # default: 64 for small-cnn, 224 otherwise
    pretrained: bool | None = None  # None: try, fall back to random weights with a warning
    weights: Path | None = None
    freeze_backbone: bool = False
    device: str = "auto"
    balance: str = "none"
    val_fraction: float = 0.2
    hflip: bool = False
    seed: int = 0
    nice: int = 0
    events: str = "auto"  # json | human | auto (human on a terminal)

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 3e-3 if self.model == SMALL_CNN else 1e-3

    @property
    def size(self) -> int:
        if self.image_size is not None:
            return self.image_size
        return 64 if self.model == SMALL_CNN else 224

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.lr is None or 0 < self.lr < float("inf"), "--lr must be a positive number"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.image_size is None or 8 <= self.image_size <= 4096,
             "--image-size must be between 8 and 4096"),
            (0 < self.val_fraction < 1, "--val-fraction must be between 0 and 1"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.balance in BALANCE, f"--balance must be one of {', '.join(BALANCE)}"),
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
        """The same settings as ``tui-label train`` arguments (how the panel starts a run)."""
        args = ["--db", str(self.db), "--model", self.model, "--epochs", str(self.epochs),
                "--batch-size", str(self.batch_size),
                "--device", self.device, "--balance", self.balance,
                "--val-fraction", repr(self.val_fraction), "--seed", str(self.seed),
                "--events", self.events, "--nice", str(self.nice)]
        if self.root is not None:
            args.insert(0, str(self.root))
        if self.lr is not None:
            args += ["--lr", repr(self.lr)]
        if self.image_size is not None:
            args += ["--image-size", str(self.image_size)]
        if self.pretrained is not None:
            args.append("--pretrained" if self.pretrained else "--no-pretrained")
        if self.weights is not None:
            args += ["--weights", str(self.weights)]
        if self.freeze_backbone:
            args.append("--freeze-backbone")
        args.append("--hflip" if self.hflip else "--no-hflip")
        return args

