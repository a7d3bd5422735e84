"""The labeler's panel refuses a model name as ``tui-label train`` does, without torchvision:
its list is the installed torchvision's, and the message is the same."""

from __future__ import annotations

import pytest

from tui_label.errors import UsageError
from tui_label.runs.model_names import TORCHVISION_MODELS, check_model_name
from tui_label.trainer import models


def test_the_labelers_list_is_the_installed_torchvisions():
    assert list(TORCHVISION_MODELS) == models.classification_models()


@pytest.mark.parametrize("name", ["resnet1800", "ResNet18", "vit", "small_cnn", "x"])
def test_the_panel_refuses_a_name_with_the_clis_message(name: str):
    with pytest.raises(UsageError) as cli:
        models._check_name(name)
    with pytest.raises(UsageError) as panel:
        check_model_name(name)
    assert str(panel.value) == str(cli.value)
    assert str(cli.value).startswith(f"unknown model {name!r}")


@pytest.mark.parametrize("name", ["small-cnn", "resnet18", "convnext_tiny", "vit_b_16"])
def test_known_names_pass_both(name: str):
    models._check_name(name)
    check_model_name(name)
