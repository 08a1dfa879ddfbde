"""ResNet backbones (vidcap/features/resnet.py): streams, determinism, weights loading offline."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from vidcap.errors import InputError, UsageError
from vidcap.features import get_backbone
from vidcap.features.backbone import DEFAULT_SEED, seeded
from vidcap.features.resnet import FITS, identity_of_digest, preprocessing
from vidcap.video.decode import read_clip
from vidcap.video.sampling import Sampling

WALK = Path(__file__).resolve().parents[1] / "assets" / "intel_walk.mkv"  # tests/assets/README.md
FRAMES = np.random.default_rng(0).integers(0, 256, (3, 120, 160, 3), dtype=np.uint8)


def test_resnet18_streams_shapes_and_dtypes():
    bb = get_backbone("resnet18", weights="none", grid=2, input_size=128)
    assert bb.name == "resnet18" and bb.weights == "none"
    assert bb.streams == {"frame": (512,), "grid": (4, 512)}
    out = bb.features(FRAMES)
    assert {k: v.shape for k, v in out.items()} == {"frame": (3, 512), "grid": (3, 4, 512)}
    assert all(v.dtype == np.float32 for v in out.values())
    # 128 px → a 4x4 map, so the 2x2 grid cells are equal and their mean is the global pool
    np.testing.assert_allclose(out["grid"].mean(axis=1), out["frame"], rtol=1e-5, atol=1e-6)
    meta = bb.meta()
    assert meta["backbone"] == "resnet18" and meta["weights"] == "none" and meta["input_size"] == 128
    assert meta["normalization"]["mean"] == [0.485, 0.456, 0.406] and meta["streams"]["grid"] == [4, 512]


def test_deeper_resnet_at_tiny_input():
    bb = get_backbone("resnet50", weights="none", input_size=64)
    out = bb.features(FRAMES[:1])
    assert out["frame"].shape == (1, 2048) and "grid" not in out


def test_random_weights_are_seeded_so_every_process_agrees():
    a = get_backbone("resnet18", weights="none", input_size=64)
    b = get_backbone("resnet18", weights="none", input_size=64)
    c = get_backbone("resnet18", weights="none", input_size=64, seed=1)
    fa, fb = a.features(FRAMES)["frame"], b.features(FRAMES)["frame"]
    assert np.array_equal(fa, fb)
    assert np.array_equal(fa, a.features(FRAMES)["frame"])  # same input, same features
    assert not np.array_equal(fa, c.features(FRAMES)["frame"])


def _random_state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return torchvision.models.resnet18().state_dict()


def test_imagenet_weights_load_offline_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    name = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name  # resnet18-f37072fd.pth
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    state = _random_state(123)
    torch.save(state, tmp_path / "hub" / "checkpoints" / name)
    bb = get_backbone("resnet18", weights="imagenet")
    assert bb.weights == "imagenet" and bb.weights_id == "ResNet18_Weights.IMAGENET1K_V1"
    named = get_backbone("resnet18", weights="IMAGENET1K_V1")  # the release by name: the same file
    assert named.weights_id == bb.weights_id and named.weights == "IMAGENET1K_V1"
    loaded = bb.stages.state_dict()
    for key, src in [("conv1.0.weight", "conv1.weight"), ("conv1.1.running_mean", "bn1.running_mean"),
                     ("layer4.0.1.conv2.weight", "layer4.1.conv2.weight")]:
        assert torch.equal(loaded[key], state[src])


def test_imagenet_weights_offline_without_file_say_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InputError) as err:
        get_backbone("resnet18", weights="imagenet")
    message = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "--weights none" in message


def test_weights_from_a_state_dict_file(tmp_path):
    state = _random_state(7)
    torch.save(state, tmp_path / "mine.pth")
    bb = get_backbone("resnet18", weights=str(tmp_path / "mine.pth"))
    assert bb.weights == str((tmp_path / "mine.pth").resolve())
    assert torch.equal(bb.stages.state_dict()["conv1.0.weight"], state["conv1.weight"])
    digest = hashlib.sha256((tmp_path / "mine.pth").read_bytes()).hexdigest()
    assert bb.weights_id == f"sha256:{digest}"
    copy = tmp_path / "elsewhere.pth"
    copy.write_bytes((tmp_path / "mine.pth").read_bytes())
    assert get_backbone("resnet18", weights=str(copy)).weights_id == bb.weights_id  # same bytes, same identity


def test_a_copy_of_a_torchvision_release_has_the_release_identity():
    # torchvision names its files after the first hex digits of their SHA-256 (resnet152-f82ba261.pth),
    # so a local copy of the download is recognised as that release in the feature spec.
    assert identity_of_digest("resnet152", "f82ba261" + "0" * 56) == "ResNet152_Weights.IMAGENET1K_V2"
    assert identity_of_digest("resnet152", "394f9c45" + "0" * 56) == "ResNet152_Weights.IMAGENET1K_V1"
    assert identity_of_digest("resnet152", "0" * 64) == "sha256:" + "0" * 64


def test_bad_weights_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        get_backbone("resnet18", weights=str(tmp_path / "absent.pth"))
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match="not a resnet18 state dict"):
        get_backbone("resnet18", weights=str(tmp_path / "text.pth"))
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pth")
    with pytest.raises(InputError, match="r34.pth: not a resnet18 state dict"):
        get_backbone("resnet18", weights=str(tmp_path / "r34.pth"))


def test_earlier_stage_and_spatial_pyramid():
    bb = get_backbone("resnet18", weights="none", input_size=64, stage="layer1", pyramid=2, grid=2)
    assert bb.streams == {"frame": (5 * 64,), "grid": (4, 64)}
    out = bb.features(FRAMES)
    frame, grid = out["frame"].reshape(3, 5, 64), out["grid"]
    # level 1 is the global pool; level 2 is the 2x2 grid (a 16x16 map: equal cells, whose mean is level 1)
    np.testing.assert_allclose(frame[:, 1:], grid, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(frame[:, 1:].mean(axis=1), frame[:, 0], rtol=1e-5, atol=1e-6)
    full = get_backbone("resnet18", weights="none", input_size=64)
    assert not np.allclose(full.features(FRAMES)["frame"][:, :64], frame[:, 0])  # a different stage
    assert bb.meta()["stage"] == "layer1" and bb.meta()["pyramid"] == 2
    assert get_backbone("resnet50", weights="none", input_size=64, stage="layer2").streams["frame"] == (512,)
    with pytest.raises(UsageError, match="stage='layer5': choose one of conv1, stem, layer1, layer2, layer3, layer4"):
        get_backbone("resnet18", weights="none", stage="layer5")
    with pytest.raises(UsageError, match="pyramid=0"):
        get_backbone("resnet18", weights="none", pyramid=0)


def test_second_order_adds_the_normalised_bilinear_pool_of_a_stage_as_its_own_stream():
    bb = get_backbone("resnet18", weights="none", input_size=64, stage="layer1", pyramid=2, second_order="stem")
    assert bb.streams == {"frame": (5 * 64,), "bilinear": (64 * 65 // 2,)}
    assert bb.meta()["second_order"] == "stem"
    feats = bb.features(FRAMES)
    plain = get_backbone("resnet18", weights="none", input_size=64, stage="layer1", pyramid=2)
    np.testing.assert_allclose(feats["frame"], plain.features(FRAMES)["frame"], rtol=1e-5, atol=1e-6)
    got = feats["bilinear"]
    # Independently: the stem map from torchvision's own modules, its Gram matrix, signed sqrt, L2 norm.
    with seeded(DEFAULT_SEED):
        resnet = torchvision.models.resnet18()
    resnet.eval()
    with torch.inference_mode():
        x = plain.normalize(torch.from_numpy(plain.transform(FRAMES)))
        stem = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x)))).flatten(2)
        gram = stem @ stem.transpose(1, 2) / stem.size(2)
    rows, cols = np.triu_indices(64)
    want = gram.numpy()[:, rows, cols]
    want = np.sign(want) * np.sqrt(np.abs(want))
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # A deeper second-order stage than the pooled one runs the network further.
    deeper = get_backbone("resnet18", weights="none", input_size=64, stage="stem", second_order="layer1")
    assert deeper.streams == {"frame": (64,), "bilinear": (64 * 65 // 2,)}
    with pytest.raises(UsageError, match="second_order='conv9': choose one of conv1, stem, layer1"):
        get_backbone("resnet18", weights="none", second_order="conv9")


def test_conv1_stage_is_the_first_convolution_before_the_max_pool():
    bb = get_backbone("resnet50", weights="none", input_size=64, stage="conv1", pyramid=2, second_order="conv1")
    assert bb.streams == {"frame": (5 * 64,), "bilinear": (64 * 65 // 2,)}
    feats = bb.features(FRAMES)
    with seeded(DEFAULT_SEED):
        resnet = torchvision.models.resnet50()
    resnet.eval()
    with torch.inference_mode():
        x = bb.normalize(torch.from_numpy(bb.transform(FRAMES)))
        conv1 = resnet.relu(resnet.bn1(resnet.conv1(x)))  # (3, 64, 32, 32): half the 64-pixel input
        cells = torch.nn.functional.adaptive_avg_pool2d(conv1, 2).flatten(2).transpose(1, 2).flatten(1)
        flat = conv1.flatten(2)
        gram = flat @ flat.transpose(1, 2) / flat.size(2)
    assert conv1.shape[-2:] == (32, 32)
    np.testing.assert_allclose(feats["frame"], torch.cat([conv1.mean(dim=(2, 3)), cells], 1).numpy(),
                               rtol=1e-4, atol=1e-6)
    rows, cols = np.triu_indices(64)
    want = gram.numpy()[:, rows, cols]
    want = np.sign(want) * np.sqrt(np.abs(want))
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(feats["bilinear"], want, rtol=1e-4, atol=1e-6)


def test_fit_chooses_how_a_frame_becomes_the_square_input():
    frames = np.zeros((1, 96, 128, 3), np.uint8)
    frames[0, :, :16] = 255  # content near the left edge
    crop, stretch, letterbox = (get_backbone("resnet18", weights="none", input_size=64, fit=fit)
                                for fit in ("crop", "stretch", "letterbox"))
    assert (crop.transform(frames) == 0).all()  # the centre crop drops the band
    assert (stretch.transform(frames)[0, :, :, :7] == 255).all()
    boxed = letterbox.normalize(torch.from_numpy(letterbox.transform(frames)))
    assert boxed[0, :, :7].abs().max() < 0.01  # padding is the ImageNet mean: zero once normalised
    assert [bb.meta()["fit"] for bb in (crop, stretch, letterbox)] == ["crop", "stretch", "letterbox"]
    assert crop.meta()["resize"] == 73 and stretch.meta()["resize"] is None
    assert not np.allclose(crop.features(FRAMES)["frame"], stretch.features(FRAMES)["frame"])
    # short: the shorter side to the input size itself, centre square (hobincar's 2019 extractor)
    short = get_backbone("resnet18", weights="none", input_size=64, fit="short")
    band = np.zeros((1, 96, 128, 3), np.uint8)
    band[0, :, 14:20] = 255  # inside short's centre square (columns 15-111), outside crop's (columns 21-105)
    assert short.meta()["resize"] == 64 and short.transform(band).shape == (1, 3, 64, 64)
    assert (short.transform(band)[0, :, :, :3] == 255).all() and (crop.transform(band) == 0).all()
    with pytest.raises(UsageError, match="fit='squeeze': choose one of crop, stretch, short, letterbox"):
        get_backbone("resnet18", weights="none", fit="squeeze")


def _torchvision_preset(release, frames: np.ndarray) -> torch.Tensor:
    """torchvision's own evaluation transform of ``release`` on uint8 NHWC frames (no weights file needed)."""
    return release.transforms()(torch.from_numpy(frames).permute(0, 3, 1, 2))


def test_v2_weights_preprocess_a_real_frame_as_their_torchvision_transform(tmp_path, monkeypatch):
    # IMAGENET1K_V2 evaluates at resize 232 (not V1's 256), bilinear with antialiasing: the backbone
    # built from that release (a random state dict in the hub cache under the release's file name, as
    # the offline test above does) must feed the network what ResNet50_Weights.IMAGENET1K_V2.transforms()
    # makes of a real frame.
    release = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    with seeded(5):
        torch.save(torchvision.models.resnet50().state_dict(),
                   tmp_path / "hub" / "checkpoints" / Path(release.url).name)
    bb = get_backbone("resnet50", weights="IMAGENET1K_V2", stage="conv1")
    assert bb.weights_id == "ResNet50_Weights.IMAGENET1K_V2"
    assert bb.preprocessing["resize"] == 232 and bb.preprocessing["interpolation"] == "bilinear"
    assert bb.preprocessing["source"] == "ResNet50_Weights.IMAGENET1K_V2.transforms()"
    frames = read_clip(WALK, Sampling(frames=2)).frames  # real 640×480 footage
    expected = _torchvision_preset(release, frames)
    ours = bb.preprocess(frames).contiguous()
    assert ours.shape == expected.shape == (2, 3, 224, 224)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)
    # other input sizes keep the release's 232/224 ratio
    assert preprocessing(release, 64, "crop")[1]["resize"] == round(64 * 232 / 224)


def test_random_and_v1_weights_keep_the_preprocessing_their_stores_were_written_with():
    # Stores written before preprocessing came from the weights must still match their spec: random
    # weights and IMAGENET1K_V1 (whose numbers are the ones vidcap always used) keep the OpenCV resizer
    # and the record, key for key.
    v1 = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    for size in (64, 224):
        for fit in FITS:
            assert preprocessing(v1, size, fit)[1] == preprocessing(None, size, fit)[1]
            assert preprocessing(v1, size, fit)[0] == preprocessing(None, size, fit)[0]
    assert get_backbone("resnet18", weights="none").preprocessing == {
        "colour": "RGB", "input_size": 224, "fit": "crop", "resize": 256,
        "interpolation": "area (shrink) / linear (enlarge)", "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225]}
    # and V2 differs from them only where its transform does
    assert preprocessing(torchvision.models.ResNet50_Weights.IMAGENET1K_V2, 224, "stretch")[1] == \
        preprocessing(None, 224, "stretch")[1]
