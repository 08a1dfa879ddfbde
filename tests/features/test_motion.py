"""Motion backbones (vidcap/features/motion.py): torchvision's Kinetics video models over frame windows
aligned with the frame streams. Preprocessing against torchvision's own transforms on a real clip,
weights offline, stores that combine with a frame store and train SA-LSTM, and the spec's refusals."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from tinytask import TINY

from vidcap.cli import main
from vidcap.config.loading import load_config
from vidcap.errors import InputError, UsageError
from vidcap.features import FeatureStore, extract, get_backbone, list_backbones
from vidcap.features.extract import decode, model_input, video_entry
from vidcap.features.motion import MODELS, summary
from vidcap.features.sources import collect_sources
from vidcap.inference.captioner import Captioner
from vidcap.trained.checkpoint import load_checkpoint
from vidcap.trained.model import check_stores
from vidcap.training.rundata import check_aligned
from vidcap.training.trainer import train
from vidcap.video import Sampling

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "tests" / "assets" / "intel_walk.mkv"  # real 640×480 footage (tests/assets/README.md)
CHEAP = {"input_size": 32, "clip_len": 4}  # 3D convolutions are costly on 2 shared cores


def test_every_model_is_listed_with_its_clip_length_and_size(capsys):
    assert set(MODELS) <= set(list_backbones())
    assert {"r2plus1d_18", "r3d_18", "mc3_18", "s3d", "mvit_v2_s", "swin3d_t"} <= set(MODELS)
    assert summary("swin3d_t").startswith("motion 768-d per 32-frame window at 224 px")
    assert main(["list", "backbones"]) == 0
    lines = capsys.readouterr().out.splitlines()
    r2plus1d = next(line for line in lines if line.startswith("r2plus1d_18\t"))
    assert r2plus1d.startswith("r2plus1d_18\tmotion 512-d per 16-frame window at 112 px; weights kinetics400 "
                               "(R2Plus1D_18_Weights.KINETICS400_V1, Kinetics-400 top-1 67.5%); ") and "resnet18" in lines


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "swin3d_b" else n
                                  for n in sorted(MODELS)])  # swin3d_b: ~7 s to build
def test_the_recorded_feature_size_is_what_the_classifier_read(name):
    model = torchvision.models.get_model(name)
    head = {"fc": lambda m: m.fc, "classifier": lambda m: m.classifier[1], "head": lambda m: m.head}
    layer = next(get(model) for attr, get in head.items() if hasattr(model, attr))
    layer = layer[1] if isinstance(layer, torch.nn.Sequential) else layer
    assert MODELS[name].dim == getattr(layer, "in_features", None) or MODELS[name].dim == layer.in_channels


@pytest.mark.parametrize("name, options", [("r2plus1d_18", {}), ("swin3d_t", {"clip_len": 8}),
                                           ("s3d", {"clip_len": 14})])
def test_preprocessing_equals_the_weights_own_transforms_on_a_real_clip(name, options):
    bb = get_backbone(name, weights="none", device="cpu", **options)
    clip = decode(WALK, Sampling(frames=3), bb.windows)
    mine = bb.normalize(torch.from_numpy(model_input(bb.transform, clip)))
    raw = torch.from_numpy(clip.window_frames[clip.windows]).permute(0, 1, 4, 2, 3)  # (T, L, 3, H, W) uint8
    release = torchvision.models.get_model_weights(name).KINETICS400_V1
    theirs = release.transforms()(raw)
    assert mine.shape == theirs.shape == (3, 3, bb.windows.length, *[release.transforms().crop_size[0]] * 2)
    assert (mine - theirs).abs().max().item() < 1e-5
    pre = bb.spec(Sampling(frames=3)).preprocessing
    assert pre["mean"] == list(release.transforms().mean) and pre["resize"] == release.transforms().resize_size
    assert pre["clip_len"] == bb.windows.length and "repeated" in pre["clip_short"]


def test_a_clip_decoded_without_windows_is_refused_by_a_motion_backbone():
    bb = get_backbone("r3d_18", weights="none", **CHEAP)
    with pytest.raises(UsageError, match="backbone r3d_18 reads frame windows; decode the video with"):
        video_entry(bb, decode(WALK, Sampling(frames=2)))
    assert video_entry(bb, decode(WALK, Sampling(frames=2), bb.windows))["motion"].shape == (2, 512)


def test_models_that_take_only_some_inputs_say_so():
    with pytest.raises(UsageError, match="mvit_v2_s takes only 16-frame clips at 224 pixels"):
        get_backbone("mvit_v2_s", weights="none", clip_len=8)
    with pytest.raises(UsageError, match="s3d needs input_size >= 224 and clip_len >= 14"):
        get_backbone("s3d", weights="none", input_size=112)
    with pytest.raises(UsageError, match="clip_stride=0"):
        get_backbone("r3d_18", weights="none", clip_stride=0)


def test_kinetics_weights_offline_name_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InputError) as err:
        get_backbone("r2plus1d_18")  # kinetics400 is the default
    message = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints" / "r2plus1d_18-91a641e6.pth") in message
    assert "R2Plus1D_18_Weights.KINETICS400_V1" in message and "--weights none" in message


def test_kinetics_weights_load_from_the_torch_hub_cache_and_from_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(5)
    state = torchvision.models.video.mc3_18().state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / "mc3_18-a90a0ba3.pth")
    bb = get_backbone("mc3_18", weights="kinetics400", **CHEAP)
    assert (bb.weights, bb.weights_id) == ("kinetics400", "MC3_18_Weights.KINETICS400_V1")
    assert torch.equal(bb.model.stem[0].weight, state["stem.0.weight"])
    torch.save(state, tmp_path / "mine.pth")
    mine = get_backbone("mc3_18", weights=str(tmp_path / "mine.pth"), **CHEAP)
    assert mine.weights_id.startswith("sha256:") and torch.equal(mine.model.stem[0].weight, state["stem.0.weight"])
    (tmp_path / "bad.pth").write_bytes(b"not a state dict")
    with pytest.raises(InputError, match=r"bad.pth: not a mc3_18 state dict"):
        get_backbone("mc3_18", weights=str(tmp_path / "bad.pth"), **CHEAP)


def _extract(sources, out, backbone, frames, **options):
    report = extract(sources, out, backbone=backbone, weights="none", sampling=Sampling(frames=frames),
                     batch_size=4, workers=0, progress=False, options=options)
    assert not report.failures and report.extracted == len(sources)
    return out


@pytest.mark.slow  # 20-75 s on 2 shared cores: extraction twice, training, captioning stores and files
def test_a_frame_store_and_a_motion_store_train_sa_lstm_together(tmp_path):
    from vidcap.demo.synthetic import generate

    ds = generate(tmp_path / "synth", n_videos=9, seed=4, captions_per_video=2)
    sources = collect_sources(video_dir=ds.video_dir)
    frames = _extract(sources, tmp_path / "resnet", "resnet18", 4, input_size=32)
    motion = _extract(sources, tmp_path / "r3d", "r3d_18", 4, **CHEAP)
    a, b = FeatureStore(frames), FeatureStore(motion)
    check_aligned([frames, motion], [a.meta, b.meta])
    for vid in a:  # row t of both stores is the same sampled frame
        assert a.info(vid)["indices"].tolist() == b.info(vid)["indices"].tolist()
        windows = np.array(b.info(vid)["window_indices"])
        assert windows.shape == (4, 4) and (windows[:, 0] <= a.info(vid)["indices"]).all()
        assert b[vid]["motion"].shape == (4, 512) and np.isfinite(b[vid]["motion"]).all()
    cfg = load_config(None, [f"data.features=[{frames},{motion}]", "data.streams=[frame,motion]",
                             f"data.annotations={ds.annotations}", f"out={tmp_path / 'run'}", *TINY,
                             "train.epochs=2"])
    train(cfg)
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert [s["name"] if isinstance(s, dict) else s for s in ckpt["data"]["streams"]] == \
        ["resnet18/frame", "r3d_18/motion"]
    # Captioning raw files decodes the windows the same way: the captions equal those of the stores.
    cap = Captioner.from_checkpoint(tmp_path / "run" / "best.pt", device="cpu")
    from_stores = cap.caption_split([ds.annotations], features=[frames, motion], beam_size=2)
    from_files = cap.caption_split([ds.annotations], video_dir=ds.video_dir, beam_size=2)
    assert from_stores == from_files and from_stores

    # A motion store made with another window length or stride is refused, naming the option.
    for change in ({"clip_len": 2}, {"clip_stride": 2}):
        other = _extract(sources[:2], tmp_path / f"r3d-{next(iter(change))}", "r3d_18", 4, **{**CHEAP, **change})
        key = next(iter(change))
        with pytest.raises(InputError, match=rf"options.{key}: .* vs .*preprocessing.{key}"):
            check_stores([frames, other], [a.meta, FeatureStore(other).meta], ckpt["data"]["stores"],
                         against="checkpoint best.pt")


@pytest.mark.slow  # a subprocess importing torch and 16 R(2+1)D windows
def test_vidcap_extract_r2plus1d_on_real_clips_offline_with_random_weights(tmp_path):
    clips = [str(ROOT / "tests" / "assets" / n) for n in ("intel_walk.mkv", "intel_eat.mkv")]
    out = tmp_path / "motion"
    done = subprocess.run([sys.executable, "-m", "vidcap", "extract", *clips, "--backbone", "r2plus1d_18",
                           "--frames", "8", "--weights", "none", "--out", str(out), "--no-progress",
                           "--option", "input_size=32", "--option", "clip_len=4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    store = FeatureStore(out)
    assert store.spec.weights == "none(seed=0)" and store.spec.options["clip_len"] == 4
    assert {k: store[k]["motion"].shape for k in store} == {"intel_walk": (8, 512), "intel_eat": (8, 512)}
