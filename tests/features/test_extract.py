"""The extraction pipeline (vidcap/features/extract.py) on small real videos, through the Python API
and the ``vidcap extract`` command: contents, bad input, resume after SIGKILL, shards, torchrun."""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from videogen import counter_frames, frame_counter, write_video

from vidcap.errors import UsageError
from vidcap.features import FeatureStore, extract, get_backbone
from vidcap.features.sources import collect_sources
from vidcap.video import Sampling, read_clip

SMALL = {"input_size": 64}  # tiny ResNet input keeps these tests cheap on 2 shared cores


def _clips(folder: Path, n: int, frames: int = 12) -> Path:
    """``n`` small counter videos in rotating codecs and sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = [(".mp4", "mp4v", 64, 48), (".avi", "MJPG", 80, 48), (".mkv", "libx264", 64, 64),
             (".webm", "libvpx-vp9", 96, 48), (".avi", "XVID", 64, 48)]
    for i in range(n):
        ext, codec, w, h = kinds[i % len(kinds)]
        write_video(folder / f"clip{i:02d}{ext}", counter_frames(frames + i, w, h), fps=10 + i, codec=codec)
    return folder


def _arrays(store: Path) -> dict[str, dict[str, np.ndarray]]:
    fs = FeatureStore(store)
    return {vid: {**fs[vid], "indices": fs.info(vid)["indices"]} for vid in fs}


def _assert_same(a: Path, b: Path) -> None:
    left, right = _arrays(a), _arrays(b)
    assert sorted(left) == sorted(right) and left
    for vid in left:
        assert left[vid].keys() == right[vid].keys()
        for k in left[vid]:
            assert np.array_equal(left[vid][k], right[vid][k]), (vid, k)  # bitwise
    assert json.loads((a / "meta.json").read_text()) == json.loads((b / "meta.json").read_text())


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    return _clips(tmp_path_factory.mktemp("clips"), 5)


@pytest.mark.slow
def test_store_holds_the_backbone_features_of_the_sampled_frames(clip_dir, tmp_path):
    report = extract(collect_sources(video_dir=clip_dir), tmp_path / "s", backbone="resnet18", weights="none",
                     sampling=Sampling(frames=5), batch_size=8, workers=1, progress=False, options=SMALL)
    assert report.failures == [] and report.extracted == 5 and report.frames == 25
    assert "extracted 5 of 5 videos (25 frames" in report.summary()
    store = FeatureStore(tmp_path / "s")
    assert sorted(store) == [f"clip{i:02d}" for i in range(5)]
    assert store.spec.backbone == "resnet18" and store.spec.weights == "none(seed=0)"
    assert store.spec.sampling == Sampling(frames=5).to_dict() and store.meta["dims"] == {"frame": [512]}
    assert store.spec.options["input_size"] == 64 and store.spec.preprocessing["fit"] == "crop"
    assert store.spec == get_backbone("resnet18", weights="none", **SMALL).spec(Sampling(frames=5))
    model = get_backbone("resnet18", weights="none", **SMALL)
    for path in sorted(clip_dir.iterdir()):
        clip = read_clip(path, Sampling(frames=5))
        got, info = store[path.stem], store.info(path.stem)
        assert got["frame"].dtype == np.float16 and got["frame"].shape == (5, 512)
        np.testing.assert_allclose(got["frame"], model.features(clip.frames)["frame"], rtol=2e-3, atol=2e-3)
        assert np.array_equal(info["indices"], clip.indices) and np.array_equal(info["timestamps"], clip.timestamps)
        assert info["path"] == str(path) and info["fps"] == pytest.approx(clip.info.fps)
    # a second run resumes: nothing to do
    again = extract([clip_dir / p.name for p in clip_dir.iterdir()], tmp_path / "s", backbone="resnet18",
                    weights="none", sampling=Sampling(frames=5), batch_size=8, workers=0, progress=False,
                    options=SMALL)
    assert again.skipped == 5 and again.extracted == 0


def test_yolo_object_stream_through_the_pipeline(clip_dir, tmp_path):
    extract(sorted(clip_dir.iterdir())[:2], tmp_path / "y", backbone="yolov8n", weights="none",
            sampling=Sampling(frames=3), batch_size=4, workers=1, progress=False,
            options={"imgsz": 64, "conf": 0.0, "top_k": 3})
    store = FeatureStore(tmp_path / "y")
    entry = store["clip00"]
    assert entry["object_classes"].dtype == np.int16 and entry["objects"].shape == (3, 3, 448)
    assert (entry["object_classes"] >= 0).all() and (entry["object_boxes"] >= 0).all()
    assert (entry["object_boxes"] <= 1).all() and store.spec.dtypes["object_classes"] == "int16"


def test_every_bad_input_is_a_listed_failure_and_the_rest_is_extracted(tmp_path):
    vids = _clips(tmp_path / "v", 2)
    (vids / "empty.mp4").write_bytes(b"")
    (vids / "text.mp4").write_text("this is not a video\n" * 50)
    good = (vids / "clip00.mp4").read_bytes()
    (vids / "truncated.mp4").write_bytes(good[: len(good) // 3])
    write_video(vids / "oneframe.avi", counter_frames(1), fps=10)
    write_video(vids / "absurdfps.mkv", counter_frames(12), fps=Fraction(5000), codec="libx264")
    zero = write_video(vids / "zerofps.avi", counter_frames(12), fps=10)
    data = bytearray(zero.read_bytes())  # rate 0 in the AVI stream header, 0 µs per frame in the main one
    at = data.index(b"strh") + 32
    data[at:at + 4] = struct.pack("<I", 0)
    at = data.index(b"avih") + 8
    data[at:at + 4] = struct.pack("<I", 0)
    zero.write_bytes(bytes(data))
    write_video(vids / "huge.avi", counter_frames(3, 4096, 2304), fps=10)  # 4K-class frames, still a video
    ann = tmp_path / "ann.json"
    ids = sorted(p.stem for p in vids.iterdir()) + ["missing"]
    ann.write_text(json.dumps({"videos": [{"video_id": v, "split": "test"} for v in ids], "sentences": []}))

    report = extract(collect_sources(video_dir=vids, annotations=[ann]), tmp_path / "s", backbone="resnet18",
                     weights="none", sampling=Sampling(frames=3), batch_size=8, workers=2, progress=False,
                     options=SMALL)
    reasons = {f["video_id"]: f["reason"] for f in report.failures}
    assert sorted(reasons) == ["empty", "missing", "oneframe", "text", "truncated"]
    assert "empty file" in reasons["empty"]
    assert reasons["missing"] == f"no video file for id missing in {vids}"
    assert "frame" in reasons["oneframe"] and all(reasons.values())
    on_disk = json.loads((tmp_path / "s" / "failures.json").read_text())
    assert {r["video_id"]: r["reason"] for r in on_disk} == reasons
    assert all(Path(r["path"]).parent == vids for r in on_disk)
    store = FeatureStore(tmp_path / "s")
    assert sorted(store) == ["absurdfps", "clip00", "clip01", "huge", "zerofps"]
    assert store["huge"]["frame"].shape == (3, 512) and store.info("absurdfps")["fps"] < 1000
    assert [f["video_id"] for f in store.failures()] == sorted(reasons)


def test_usage_errors_come_before_any_work(clip_dir, tmp_path):
    srcs = collect_sources(video_dir=clip_dir)
    with pytest.raises(UsageError, match="unknown backbone 'resnet19'; choose one of: .*resnet101, resnet152, resnet18"):
        extract(srcs, tmp_path / "a", backbone="resnet19", weights="none")
    with pytest.raises(UsageError, match="batch_size=0"):
        extract(srcs, tmp_path / "a", backbone="resnet18", weights="none", batch_size=0)
    assert not (tmp_path / "a").exists()
    extract(srcs[:1], tmp_path / "b", backbone="resnet18", weights="none", sampling=Sampling(frames=2),
            workers=0, progress=False, options=SMALL)
    with pytest.raises(UsageError, match="sampling.frames: 2 vs 3"):
        extract(srcs, tmp_path / "b", backbone="resnet18", weights="none", sampling=Sampling(frames=3),
                workers=0, progress=False, options=SMALL)
    assert len(FeatureStore(tmp_path / "b")) == 1


def test_shards_into_one_folder_equal_one_unsharded_run(tmp_path):
    vids = _clips(tmp_path / "v", 5)
    (vids / "broken.mp4").write_text("nope")
    srcs = collect_sources(video_dir=vids)
    kw = dict(backbone="resnet18", weights="none", sampling=Sampling(frames=3), batch_size=4, workers=1,
              progress=False, options=SMALL)
    whole = extract(srcs, tmp_path / "whole", **kw)
    parts = [extract(srcs, tmp_path / "parts", shard=(i, 2), **kw) for i in range(2)]
    assert [p.total for p in parts] == [3, 3] and whole.total == 6
    _assert_same(tmp_path / "whole", tmp_path / "parts")
    assert (tmp_path / "parts" / "failures-1-of-2.json").exists()  # 'broken' sorts second: shard 1
    assert FeatureStore(tmp_path / "parts").failures() == FeatureStore(tmp_path / "whole").failures()


def test_a_damaged_entry_is_extracted_again_and_nothing_else_is_touched(clip_dir, tmp_path):
    kw = dict(backbone="resnet18", weights="none", sampling=Sampling(frames=3), batch_size=4, workers=0,
              progress=False, options=SMALL)
    srcs = collect_sources(video_dir=clip_dir)
    extract(srcs, tmp_path / "s", **kw)
    before = _arrays(tmp_path / "s")
    entries = tmp_path / "s" / "videos"
    cut = entries / "clip01.npz"
    cut.write_bytes(cut.read_bytes()[:100])  # a partial copy
    mtimes = {p.name: p.stat().st_mtime_ns for p in entries.iterdir() if p.name != "clip01.npz"}
    with pytest.raises(Exception, match=r"video 'clip01'.*damaged"):
        FeatureStore(tmp_path / "s")["clip01"]
    report = extract(srcs, tmp_path / "s", **kw)
    assert report.redone == ["clip01"] and report.extracted == 1 and report.skipped == 4
    assert "1 damaged entries extracted again" in report.summary()
    assert {p.name: p.stat().st_mtime_ns for p in entries.iterdir() if p.name != "clip01.npz"} == mtimes
    after = _arrays(tmp_path / "s")
    assert all(np.array_equal(before[v][k], after[v][k]) for v in before for k in before[v])
    # A flipped byte keeps the zip directory intact: only --verify (a full read) finds it.
    data = bytearray(cut.read_bytes())
    data[200] ^= 0xFF
    cut.write_bytes(bytes(data))
    assert extract(srcs, tmp_path / "s", **kw).redone == []
    assert extract(srcs, tmp_path / "s", verify=True, **kw).redone == ["clip01"]
    assert np.array_equal(FeatureStore(tmp_path / "s")["clip01"]["frame"], before["clip01"]["frame"])


# ----------------------------------------------------------------------- the command, end to end
def _vidcap(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidcap", *args], capture_output=True, text=True, timeout=600, **kw)


@pytest.mark.slow
def test_cli_exit_codes(clip_dir, tmp_path):
    base = ["extract", "--backbone", "resnet18", "--weights", "none", "--frames", "2", "--workers", "1",
            "--no-progress"]
    ok = _vidcap(*base, "--video-dir", str(clip_dir), "--out", str(tmp_path / "ok"))
    assert ok.returncode == 0, ok.stderr
    assert "extracted 5 of 5 videos" in ok.stdout and len(FeatureStore(tmp_path / "ok")) == 5
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    some = _vidcap(*base, str(clip_dir / "clip00.mp4"), str(bad), "--out", str(tmp_path / "some"))
    assert some.returncode == 1 and "1 failed" in some.stdout
    assert json.loads((tmp_path / "some" / "failures.json").read_text())[0]["path"] == str(bad)
    unknown = _vidcap(*base[:1], "--backbone", "resnet19", "--video-dir", str(clip_dir), "--out", str(tmp_path / "u"))
    assert unknown.returncode == 2 and "resnet18" in unknown.stderr and "yolov8n" in unknown.stderr
    frames = _vidcap(*base[:5], "--frames", "0", "--video-dir", str(clip_dir), "--out", str(tmp_path / "f"))
    assert frames.returncode == 2 and "frames" in frames.stderr
    assert not (tmp_path / "u").exists() and not (tmp_path / "f").exists()
    # Backbone options: typed values, checked by the backbone, recorded in the store.
    opts = _vidcap(*base, "--video-dir", str(clip_dir), "--out", str(tmp_path / "opts"), "--option", "input_size=64",
                   "--option", "stage=layer1", "--option", "pyramid=2", "--option", "second_order=conv1")
    assert opts.returncode == 0, opts.stderr
    store = FeatureStore(tmp_path / "opts")
    assert store.meta["dims"] == {"frame": [320], "bilinear": [2080]}
    assert {k: store.spec.options[k] for k in ("input_size", "stage", "pyramid", "second_order")} == {
        "input_size": 64, "stage": "layer1", "pyramid": 2, "second_order": "conv1"}
    for option, message in [("bogus=1", "resnet18 has no option 'bogus'"), ("stage", "write KEY=VALUE"),
                            ("pyramid=9", "pyramid=9")]:
        bad_opt = _vidcap(*base, "--video-dir", str(clip_dir), "--out", str(tmp_path / "o2"), "--option", option)
        assert bad_opt.returncode == 2 and message in bad_opt.stderr, bad_opt.stderr
    assert not (tmp_path / "o2").exists()


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_store(tmp_path):
    vids = _clips(tmp_path / "v", 12, frames=20)
    args = ["extract", "--video-dir", str(vids), "--backbone", "resnet18", "--weights", "none", "--frames", "6",
            "--batch-size", "8", "--workers", "1", "--no-progress"]
    assert _vidcap(*args, "--out", str(tmp_path / "whole")).returncode == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "vidcap", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("videos/*.npz"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((out / "videos").glob("*.npz")))
    assert 0 < done < 12, f"the kill should land mid-run, {done} of 12 were written"
    rerun = _vidcap(*args, "--out", str(out))
    assert rerun.returncode == 0 and f"{done} already done" in rerun.stdout
    _assert_same(tmp_path / "whole", out)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(tmp_path):
    vids = _clips(tmp_path / "v", 4)
    args = ["extract", "--video-dir", str(vids), "--backbone", "resnet18", "--weights", "none", "--frames", "2",
            "--batch-size", "4", "--workers", "1", "--no-progress"]
    assert _vidcap(*args, "--out", str(tmp_path / "one")).returncode == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "vidcap", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "two").glob("failures*.json")) == [
        "failures-0-of-2.json", "failures-1-of-2.json"]
    _assert_same(tmp_path / "one", tmp_path / "two")


def test_real_clips(real_videos, tmp_path):
    report = extract(real_videos, tmp_path / "s", backbone="resnet18", weights="none",
                     sampling=Sampling(frames=4), batch_size=8, workers=2, progress=False, options=SMALL)
    assert report.failures == [] and report.extracted == len(real_videos) == 5
    store = FeatureStore(tmp_path / "s")
    for path in real_videos:
        assert store[path.stem]["frame"].shape == (4, 512)
        assert np.isfinite(store[path.stem]["frame"].astype(np.float32)).all()
        assert store.info(path.stem)["indices"].tolist() == read_clip(path, Sampling(frames=4)).indices.tolist()


@pytest.mark.slow
def test_strided_extraction_takes_hobincars_frames_and_records_them(tmp_path):
    """`vidcap extract --stride 5 --margin 8 --window 60 --frames 28` (the reproduction's resnet152-hobincar
    store): the decoded frames are the ones hobincar's extractor + loader take, and the store's spec says so."""
    vids = tmp_path / "v"
    vids.mkdir()
    write_video(vids / "clip.mp4", counter_frames(40), fps=10)
    sampling = Sampling(frames=28, stride=5, margin=8, window=60)
    clip = read_clip(vids / "clip.mp4", sampling)
    assert clip.indices.tolist() == [8, 18, 28]  # range(8, 33, 5) = 8..28; linspace(0, 59, 28) hits 0, 2, 4
    assert [frame_counter(f) for f in clip.frames] == [8, 18, 28]  # the decoded pixels are those frames
    run = _vidcap("extract", "--video-dir", str(vids), "--backbone", "resnet18", "--weights", "none", "--stride", "5",
                  "--margin", "8", "--window", "60", "--frames", "28", "--option", "input_size=64", "--option",
                  "fit=short", "--workers", "1", "--no-progress", "--out", str(tmp_path / "store"))
    assert run.returncode == 0, run.stderr
    spec = FeatureStore(tmp_path / "store").meta["spec"]
    assert spec["sampling"] == sampling.to_dict() and spec["preprocessing"]["fit"] == "short"
    stored = _arrays(tmp_path / "store")["clip"]
    assert stored["frame"].shape[0] == 3 and list(stored["indices"]) == [8, 18, 28]


def test_features_beyond_the_stored_dtype_give_no_caption(real_videos):
    # Captioning a raw file makes its features as extraction stores them (float16 here); a value beyond float16's
    # range becomes inf in that cast. The store's writer refuses such an entry; the captioning path must too,
    # instead of decoding a caption from inf. A real backbone, its last normalisation pushed past the range.
    import torch

    from vidcap.errors import InputError
    from vidcap.features.extract import decode, video_entry

    clip = decode(real_videos[0], Sampling(frames=2))
    backbone = get_backbone("resnet18", weights="none", input_size=32)
    assert video_entry(backbone, clip)["frame"].dtype == np.float16  # finite as built
    last_norm = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)][-1]
    with torch.no_grad():
        last_norm.bias.fill_(1e6)
    with pytest.raises(InputError, match=rf"^{real_videos[0]}: resnet18 features, stream frame \(float16\): "
                                         r"1024 non-finite"):
        video_entry(backbone, clip)
