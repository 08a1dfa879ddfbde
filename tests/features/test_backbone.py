"""The backbone registry and the shared Backbone behaviour (vidcap/features/backbone.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcap.errors import UsageError
from vidcap.features import get_backbone, list_backbones
from vidcap.registry import UnknownNameError


def test_every_family_member_is_registered():
    names = list_backbones()
    assert names == sorted(names)
    for n in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]:
        assert n in names
    for family in ("yolov8", "yolo11"):
        assert all(f"{family}{s}" in names for s in "nsmlx")


def test_unknown_backbone_is_a_usage_error_listing_choices():
    with pytest.raises(UnknownNameError) as err:
        get_backbone("resnet19", weights="none")
    assert isinstance(err.value, UsageError)
    assert "resnet19" in str(err.value) and "resnet18" in str(err.value) and "yolov8n" in str(err.value)


def test_bad_dtype_and_options_are_usage_errors():
    with pytest.raises(UsageError, match="dtype='fp8'.*bf16"):
        get_backbone("resnet18", weights="none", dtype="fp8")
    with pytest.raises(UsageError, match="grid=9"):
        get_backbone("resnet18", weights="none", grid=9)


def test_preprocess_equals_transform_then_normalize():
    bb = get_backbone("resnet18", weights="none", input_size=64)
    frames = np.random.default_rng(1).integers(0, 256, (2, 48, 80, 3), dtype=np.uint8)
    x = bb.preprocess(frames)
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = (torch.from_numpy(bb.transform(frames)).float() / 255 - mean) / std
    torch.testing.assert_close(x, expected)


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(UsageError, match=r"resnet18 has no option 'imgsz'; its options: grid, input_size, fit, stage, pyramid, second_order, dtype, seed"):
        get_backbone("resnet18", weights="none", imgsz=320)
