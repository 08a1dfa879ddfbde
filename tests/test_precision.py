"""One precision vocabulary and one "auto" rule for training (train.amp) and the backbones (dtype)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcap import precision
from vidcap.config.schema import specs
from vidcap.errors import UsageError
from vidcap.features.backbone import get_backbone

CPU = torch.device("cpu")


def test_names_resolve_to_autocast_dtypes():
    assert [precision.resolve(s, CPU) for s in ("fp32", "off", "bf16", "fp16")] == \
        [None, None, torch.bfloat16, torch.float16]
    # auto: fp32 on the CPU (exact, and usually faster there), for training and backbones alike
    assert precision.name("auto", CPU) == precision.name(None, CPU) == "fp32"
    with pytest.raises(UsageError, match=r"train\.amp='fp8': choose one of auto, fp32, bf16, fp16, off"):
        precision.resolve("fp8", CPU, key="train.amp")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA half of the auto rule needs a GPU")
def test_auto_is_bf16_on_a_cuda_device_that_has_it():
    cuda = torch.device("cuda")
    assert precision.name("auto", cuda) == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    assert get_backbone("resnet18", weights="none", device="cuda").dtype == precision.name("auto", cuda)


def test_train_amp_takes_the_vocabulary_and_its_synonym():
    spec = specs()["train.amp"]
    assert spec.choice_list() == precision.choices()
    assert spec.check(False) == "off"  # YAML 1.1 reads `train.amp: off` as false: paper configs keep working
    assert precision.resolve(spec.check("off"), CPU) is precision.resolve(spec.check("fp32"), CPU) is None


def test_backbone_records_the_resolved_name_and_runs_under_autocast():
    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    exact = get_backbone("resnet18", weights="none", input_size=64)
    assert exact.dtype == "fp32" and exact.options["dtype"] == "fp32"  # unset: auto, fp32 on the CPU
    assert get_backbone("resnet18", weights="none", input_size=64, dtype="off").options["dtype"] == "fp32"
    half = get_backbone("resnet18", weights="none", input_size=64, dtype="bf16")
    a, b = exact.features(frames)["frame"], half.features(frames)["frame"]
    # the same weights (seed 0); bf16 autocast keeps 8 mantissa bits: close, but not equal
    assert not np.array_equal(a, b)
    np.testing.assert_allclose(a, b, rtol=0.1, atol=0.05 * float(np.abs(a).max()))
