"""timm backbones (vidcap/features/timm_backbone.py): names, streams, preprocessing, weights from the HF cache.

Random-weight models only (offline); the real pretrained weights are in test_pretrained_bottle.py.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("timm")

import huggingface_hub.constants
import safetensors.torch
import timm

from vidcap.cli import main
from vidcap.errors import InputError, UsageError
from vidcap.features import get_backbone, list_backbones
from vidcap.features.backbone import backbone_options

TINY_VIT = "timm:test_vit.r160_in1k"  # timm's own test model: 160 px, 16-pixel patches (10×10), 64 channels
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache folder, offline: what a machine without downloaded weights has."""
    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def frames(n=2, h=90, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_short_names_and_the_prefix_are_listed(capsys):
    names = list_backbones()
    for name in ("clip-vit-b32", "clip-vit-b16", "clip-vit-l14", "efficientnet-lite0", "convnext-tiny",
                 "timm:<timm model>"):
        assert name in names
    assert names == sorted(names)
    assert main(["list", "backbones"]) == 0
    assert "clip-vit-b32\n" in capsys.readouterr().out
    assert backbone_options("timm:convnext_tiny") == ["frame", "grid", "crop_pct", "dtype", "seed"]


def test_unknown_timm_model_is_a_usage_error():
    with pytest.raises(UsageError, match="timm has no model 'convnext_tinyy'"):
        get_backbone("timm:convnext_tinyy", weights="none")
    with pytest.raises(UsageError, match="unknown backbone 'timm:'"):  # the prefix alone names nothing
        get_backbone("timm:", weights="none")


def test_any_timm_model_random_weights_streams_and_recorded_preprocessing():
    bb = get_backbone(TINY_VIT, weights="none", device="cpu")
    assert bb.streams == {"frame": (64,)} and bb.weights == "none" and bb.weights_id == "none(seed=0)"
    assert bb.preprocessing == {"colour": "RGB", "input_size": 160, "fit": "crop", "resize": 168, "crop_pct": 0.95,
                                "interpolation": "bicubic", "resizer": "antialiased (PIL-equivalent, torchvision uint8)",
                                "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}  # timm's pretrained config: floor(160 / 0.95) = 168
    assert bb.options == {"frame": "pre_logits", "grid": None, "crop_pct": None, "dtype": "fp32", "seed": 0}
    out = bb.features(frames(3))
    assert out["frame"].shape == (3, 64) and out["frame"].dtype == np.float32
    # frame is what the classifier reads: the classifier on it gives the model's own logits
    x = bb.preprocess(frames(3))
    with torch.no_grad():
        torch.testing.assert_close(bb.model.get_classifier()(torch.from_numpy(out["frame"])), bb.model(x))
    meta = bb.meta()
    assert meta["timm_model"] == "test_vit.r160_in1k" and meta["preprocessing"] == bb.preprocessing


def test_options_rebuild_the_same_backbone():
    bb = get_backbone(TINY_VIT, weights="none", grid=2, crop_pct=1.0, seed=3)
    again = get_backbone(TINY_VIT, weights=bb.weights, **bb.options)
    np.testing.assert_array_equal(again.features(frames())["grid"], bb.features(frames())["grid"])
    assert again.preprocessing == bb.preprocessing and bb.preprocessing["resize"] == 160
    other = get_backbone(TINY_VIT, weights="none", seed=4)
    assert other.weights_id == "none(seed=4)" and not np.allclose(other.features(frames())["frame"],
                                                                  bb.features(frames())["frame"])


def test_transform_is_timms_own_eval_transform():
    bb = get_backbone(TINY_VIT, weights="none")
    f = frames(2, 300, 500)
    out = bb.transform(f)
    assert out.shape == (2, 3, 160, 160) and out.dtype == np.uint8
    # timm's eval transform (PIL: shorter side to floor(160 / 0.95) = 168, bicubic, centre crop), unnormalised
    config = {**timm.data.resolve_data_config({}, model=bb.model), "mean": (0, 0, 0), "std": (1, 1, 1)}
    theirs = timm.data.create_transform(**config)
    for ours, frame in zip(out, f):
        expected = (theirs(Image.fromarray(frame)) * 255).round().to(torch.uint8).numpy()
        assert np.abs(ours.astype(int) - expected).max() <= 1  # PIL and torchvision's uint8 kernels round apart
    mean = torch.tensor(bb.preprocessing["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(bb.preprocessing["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(bb.preprocess(f), (torch.from_numpy(out).float() / 255 - mean) / std)


def test_frame_head_and_grid_options():
    bb = get_backbone(TINY_VIT, weights="none", frame="head", grid=10)
    assert bb.streams == {"frame": (1000,), "grid": (100, 64)}
    f = frames(2)
    out = bb.features(f)
    with torch.no_grad():
        x = bb.preprocess(f)
        torch.testing.assert_close(torch.from_numpy(out["frame"]), bb.model(x))
        tokens = bb.model.forward_features(x)[:, 1:]  # the grid at the patch resolution is the patch tokens
    torch.testing.assert_close(torch.from_numpy(out["grid"]), tokens, rtol=1e-5, atol=1e-5)
    with pytest.raises(UsageError, match="frame='logits'"):
        get_backbone(TINY_VIT, weights="none", frame="logits")
    with pytest.raises(UsageError, match="grid=0"):
        get_backbone(TINY_VIT, weights="none", grid=0)


@pytest.mark.slow
def test_convnext_tiny_random_weights_and_cnn_grid():
    bb = get_backbone("convnext-tiny", weights="none", grid=2)
    assert type(bb).default_weights == "imagenet" and bb.preprocessing["mean"] == [0.485, 0.456, 0.406]
    assert bb.streams == {"frame": (768,), "grid": (4, 768)}
    f = frames(1)
    out = bb.features(f)
    with torch.no_grad():
        fmap = bb.model.forward_features(bb.preprocess(f))  # (1, 768, 7, 7)
    torch.testing.assert_close(torch.from_numpy(out["grid"][0, 0]), fmap[0, :, :4, :4].mean((1, 2)),
                               rtol=1e-4, atol=1e-5)  # 7 → 2 cells: adaptive pooling takes rows/columns 0..3


@pytest.mark.slow
def test_clip_vit_b32_gives_the_projected_embedding_with_clip_preprocessing():
    bb = get_backbone("clip-vit-b32", weights="none", grid=7)
    assert type(bb).default_weights == "openai" and bb.options["frame"] == "head"
    assert bb.streams == {"frame": (512,), "grid": (49, 768)}  # projected CLIP embedding; 7×7 patch tokens
    assert bb.preprocessing["mean"] == CLIP_MEAN and bb.preprocessing["std"] == CLIP_STD
    assert (bb.preprocessing["crop_pct"], bb.preprocessing["resize"]) == (0.9, 248)
    f = frames(2)
    out = bb.features(f)
    with torch.no_grad():
        pre = bb.model.forward_head(bb.model.forward_features(bb.preprocess(f)), pre_logits=True)
    assert pre.shape == (2, 768)  # what frame="pre_logits" stores
    torch.testing.assert_close(torch.from_numpy(out["frame"]), bb.model.head(pre), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name, dims", [("clip-vit-b16", (512, 768)), ("clip-vit-l14", (768, 1024))])
def test_larger_clip_towers_dims(name, dims):
    head = get_backbone(name, weights="none")
    assert head.streams["frame"] == (dims[0],)
    assert head.model.num_features == dims[1]
    assert head.preprocessing["crop_pct"] == (1.0 if name == "clip-vit-l14" else 0.9)


def test_offline_without_cached_weights_names_the_missing_cache_entry(hf_cache):
    with pytest.raises(InputError) as err:
        get_backbone("clip-vit-b32")  # default weights: openai, from timm's Hugging Face repository
    text = str(err.value)
    assert str(hf_cache / "models--timm--vit_base_patch32_clip_224.openai") in text
    assert "model.safetensors" in text and "HF_HUB_OFFLINE" in text and "--weights none" in text
    with pytest.raises(InputError, match="weights 'imagenett': neither 'imagenet', 'none' nor an existing file"):
        get_backbone("convnext-tiny", weights="imagenett")


def _put_in_hf_cache(cache, repo: str, state: dict) -> tuple:
    """Lay ``state`` out as huggingface_hub caches a downloaded model.safetensors (blobs, snapshot, ref)."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    path = snapshot / "model.safetensors"
    safetensors.torch.save_file(state, str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_weights_come_from_the_hugging_face_cache_and_equal_the_same_file(hf_cache):
    with torch.random.fork_rng():
        torch.manual_seed(7)
        donor = timm.create_model("test_vit.r160_in1k")
    state = {k: v.contiguous() for k, v in donor.state_dict().items()}
    path, digest = _put_in_hf_cache(hf_cache, "timm/test_vit.r160_in1k", state)
    bb = get_backbone(TINY_VIT)  # default weights: the pretrained tag's file, found in the cache offline
    assert bb.weights == "pretrained" and bb.weights_id == f"sha256:{digest}"
    torch.testing.assert_close(bb.model.state_dict()["head.weight"], state["head.weight"])
    same = get_backbone(TINY_VIT, weights=str(path))  # the same bytes as a file: the same identity
    assert same.weights_id == bb.weights_id and same.weights == str(path)
    np.testing.assert_array_equal(same.features(frames())["frame"], bb.features(frames())["frame"])


def test_a_foreign_weights_file_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    safetensors.torch.save_file({"something.else": torch.zeros(3)}, str(bad))
    with pytest.raises(InputError, match=f"{bad}.*not loadable as timm's test_vit.r160_in1k"):
        get_backbone(TINY_VIT, weights=str(bad))
