"""Rebuilding a backbone from a recorded spec (vidcap.features.backbone.rebuild_backbone): weights come from
their identity or from a file the user gives, identified from its bytes before anything loads it. A YOLO
file (a pickle) is loaded only when it is the one the spec records: from ``--weights`` or from
ultralytics' weights_dir, never a file of another identity there, which is not even unpickled."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
import torchvision

from vidcap.errors import InputError
from vidcap.features import get_backbone
from vidcap.features.backbone import rebuild_backbone
from vidcap.video import Sampling

FRAMES = np.random.default_rng(0).integers(0, 255, (2, 48, 64, 3), dtype=np.uint8)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _rebuild(spec, file=None):
    return rebuild_backbone(spec, source="model m", key="stores[0].spec", file=file, device="cpu")


def test_resnet_weights_of_a_file_come_from_the_users_file_only(tmp_path):
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "mine.pth")
    made = get_backbone("resnet18", weights=str(tmp_path / "mine.pth"), device="cpu", input_size=64)
    spec = made.spec(Sampling(frames=2))
    assert spec.weights.startswith("sha256:")
    with pytest.raises(InputError, match=r"model m: stores\[0\].spec.weights = sha256:.*--weights resnet18=FILE"):
        _rebuild(spec)
    copy = shutil.copy(tmp_path / "mine.pth", tmp_path / "copy-elsewhere.pth")  # the same bytes anywhere agree
    rebuilt = _rebuild(spec, str(copy))
    assert np.array_equal(rebuilt.features(FRAMES)["frame"], made.features(FRAMES)["frame"])
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "other.pth")
    with pytest.raises(InputError, match=r"weights file .*other.pth is sha256:.*made with sha256:"):
        _rebuild(spec, str(tmp_path / "other.pth"))


@pytest.mark.slow
def test_yolo_files_load_only_when_their_hash_is_the_recorded_one(tmp_path, monkeypatch):
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import SETTINGS

    torch.manual_seed(0)
    torch.save({"model": DetectionModel("yolov8n.yaml", nc=80, verbose=False).half()}, tmp_path / "trusted.pt")
    options = {"imgsz": 64, "conf": 0.0, "top_k": 2}
    made = get_backbone("yolov8n", weights=str(tmp_path / "trusted.pt"), device="cpu", **options)
    spec = made.spec(Sampling(frames=2))
    marker = tmp_path / "pwned"
    torch.save(_RunsCode(marker), tmp_path / "evil.pt")
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    monkeypatch.setitem(SETTINGS, "weights_dir", str(weights_dir))
    # nothing in weights_dir: a file must be given; the name yolov8n.pt is never handed to ultralytics
    with pytest.raises(InputError, match="--weights yolov8n=FILE"):
        _rebuild(spec)
    # the user's file of another identity, and another file as weights_dir/yolov8n.pt: never unpickled
    with pytest.raises(InputError, match="evil.pt is sha256:"):
        _rebuild(spec, str(tmp_path / "evil.pt"))
    shutil.copy(tmp_path / "evil.pt", weights_dir / "yolov8n.pt")
    with pytest.raises(InputError, match="--weights yolov8n=FILE"):
        _rebuild(spec)
    assert not marker.exists()
    # the trusted file, given or in weights_dir: rebuilt, same features
    expected = made.features(FRAMES)["objects"]
    assert np.array_equal(_rebuild(spec, str(tmp_path / "trusted.pt")).features(FRAMES)["objects"], expected)
    shutil.copy(tmp_path / "trusted.pt", weights_dir / "yolov8n.pt")
    assert np.array_equal(_rebuild(spec).features(FRAMES)["objects"], expected)


@pytest.mark.parametrize("identity", ["/tmp/evil.pt", "http://example.com/yolov8n.pt", "file:///etc/passwd",
                                      "..\\..\\evil.pt", "", "a" * 300])
def test_a_path_or_url_where_an_identity_belongs_is_refused(identity):
    spec = get_backbone("resnet18", weights="none", device="cpu", input_size=64).spec(Sampling(frames=2))
    with pytest.raises(InputError, match=r"model m: stores\[0\].spec.weights = .* is not a weights identity"):
        _rebuild(spec.replace(weights=identity))


def test_a_kinetics_release_identity_rebuilds_from_torchvisions_cache_not_a_users_file(tmp_path, monkeypatch):
    """The video backbones share ResNet's torchvision-release identities (TorchvisionWeights): a model
    recording ``R3D_18_Weights.KINETICS400_V1`` is rebuilt from $TORCH_HOME's cache by that name (offline
    and uncached here: the error names the cache file), never by asking for a file."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = get_backbone("r3d_18", weights="none", device="cpu", input_size=32, clip_len=4).spec(Sampling(frames=2))
    spec = type(spec)(**{**spec.__dict__, "weights": "R3D_18_Weights.KINETICS400_V1"})
    release = torchvision.models.get_model_weights("r3d_18").KINETICS400_V1
    with pytest.raises(InputError) as err:
        _rebuild(spec)
    assert os.path.basename(release.url) in str(err.value) and "--weights r3d_18=FILE" not in str(err.value)
