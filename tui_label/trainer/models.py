"""Models: torchvision's registry by name, with the head replaced, or a small CNN.

torchvision is imported only when a torchvision model is asked for (about a second of every
small-cnn run's start otherwise)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from tui_label.errors import UsageError
from tui_label.runs.model_names import check_model_name
from tui_label.runs.options import SMALL_CNN


class SmallCNN(nn.Module):
    """Four conv blocks and a linear head: trains from scratch in seconds on a CPU."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()

        def block(cin: int, cout: int, pool: bool = True) -> nn.Sequential:
            layers = [nn.Conv2d(cin, cout, 3, stride=1 if pool else 2, padding=1, bias=False),
                      nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))

        # The first block strides instead of pooling: at full resolution, pooling costs more
        # than the convolution itself.
        self.features = nn.Sequential(block(3, width, pool=False), block(width, width * 2),
                                      block(width * 2, width * 4), block(width * 4, width * 8),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def classification_models() -> list[str]:
    import torchvision  # heavy: about a second; small-cnn runs never load it

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _check_name(name: str) -> None:
    if name != SMALL_CNN:  # the installed torchvision's registry is the one that counts here
        check_model_name(name, classification_models())


def pretrained_state(name: str) -> dict:
    """The default pretrained weights of a torchvision model, from torch's cache or the net.

    Raises:
        OSError: neither cached nor downloadable, or the cached file is damaged (one line that
            says where the cache file is).
    """
    import torchvision  # heavy: about a second; small-cnn runs never load it

    weights = torchvision.models.get_model_weights(name).DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:  # URLError, HTTPError, socket errors: all "not available"
        reason = _first_line(getattr(exc, "reason", None) or exc) or type(exc).__name__
        if cache.is_file():
            raise OSError(f"the cached pretrained weights for {name} ({cache}) cannot be read "
                          f"({reason}); delete the file to download it again") from None
        raise OSError(f"pretrained weights for {name} are not in the cache ({cache}) and could "
                      f"not be downloaded ({reason})") from None


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0].split(". ")[0] if text else ""


def replace_head(model: nn.Module, num_classes: int, name: str = "this model") -> nn.Module:
    """Swap the last linear layer for one with ``num_classes`` outputs; return the new layer."""
    last = None
    for qualified, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = qualified
    if last is None:
        raise UsageError(f"{name} has no linear classification head to replace; pick another "
                         "model")
    parent_name, _, attr = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    head = nn.Linear(old.in_features, num_classes)
    setattr(parent, attr, head)
    return head


def load_weights_file(model: nn.Module, path: Path) -> int:
    """Load a state dict or a tui-label checkpoint; tensors whose shape differs (a head for
    other classes) are left as they are. Returns how many tensors were loaded."""
    not_weights = f"--weights {path} is not a PyTorch checkpoint or state dict"
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
            # Neither torch.save's zip nor a pickle: torch would call it "Python objects".
            raise UsageError(not_weights)
        data = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise UsageError(f"cannot read --weights {path}: {exc.strerror or exc}") from None
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():  # torch's safe loader refused Python objects
            raise UsageError(f"--weights {path} holds Python objects, not only tensors (a whole "
                             "pickled model?): save model.state_dict() instead") from None
        raise UsageError(not_weights) from None
    except UsageError:
        raise
    except Exception:  # KeyError('101') for text, RuntimeError for a cut zip, EOFError ...
        raise UsageError(not_weights) from None
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise UsageError(f"--weights {path} holds no state dict")
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise UsageError(f"no weights in --weights {path} fit this model")
    model.load_state_dict(usable, strict=False)
    return len(usable)


def build_model(
    name: str,
    num_classes: int,
    *,
    pretrained: bool | None,
    weights_file: Path | None = None,
    freeze_backbone: bool = False,
    warn: Callable[[str], None] = lambda message: None,
) -> nn.Module:
    """Build ``name`` for ``num_classes`` classes.

    ``pretrained``: True insists on the default pretrained weights (their absence is an
    error), None tries them and continues from random weights with a warning, False skips them.
    """
    _check_name(name)
    if name == SMALL_CNN:
        if pretrained:
            raise UsageError("small-cnn has no pretrained weights: use --no-pretrained")
        model: nn.Module = SmallCNN(num_classes)
    else:
        import torchvision  # heavy: about a second; small-cnn runs never load it

        model = torchvision.models.get_model(name, weights=None)
        if pretrained is not False and weights_file is None:
            try:
                model.load_state_dict(pretrained_state(name))
            except OSError as exc:
                if pretrained:
                    raise UsageError(f"{exc}; run once with network access, copy the file "
                                     "there, or pass --no-pretrained") from None
                warn(f"{exc}; training {name} from random weights")
        head = replace_head(model, num_classes, name)
    if weights_file is not None:
        loaded, total = load_weights_file(model, weights_file), len(model.state_dict())
        if loaded < total // 2:  # another architecture's file: most of the model stays random
            warn(f"only {loaded} of {name}'s {total} tensors are in --weights "
                 f"{weights_file} (a checkpoint of another model?): the rest start random")
    if freeze_backbone:
        head = model.fc if name == SMALL_CNN else head
        for p in model.parameters():
            p.requires_grad = False
        for p in head.parameters():
            p.requires_grad = True
    return model
