"""tools/reproduce.py (vidcap.reproduce): the paper configs end to end on a small MSR-VTT-shaped set, as a
smoke run: generated clips named video<N>.mp4 with real MSR-VTT annotations of those ids, one annotated
test video without a file. The run is interrupted (SIGKILL) after its first training run and resumed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from videogen import counter_frame, write_video
from vidcap.config.loading import load_config
from vidcap.reproduce import DATASETS, PUBLISHED

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets" / "msrvtt"
SPLITS = {"train": 10, "validate": 3, "test": 4}


def make_msrvtt_like(root: Path, *, missing: int = 1) -> tuple[Path, list[Path]]:
    """``root/videos/video<N>.mp4`` for the first videos of each split of the fixture annotations, and
    the two annotation files restricted to them; the last ``missing`` test videos get no file."""
    train_val = json.loads((ASSETS / "train_val_videodatainfo.json").read_text())
    test = json.loads((ASSETS / "test_videodatainfo.json").read_text())
    chosen: dict[str, list[str]] = {}
    for data in (train_val, test):
        for video in data["videos"]:
            ids = chosen.setdefault(video["split"], [])
            if len(ids) < SPLITS[video["split"]]:
                ids.append(video["video_id"])
    keep = {v for ids in chosen.values() for v in ids}
    files = []
    for name, data in (("train_val_videodatainfo.json", train_val), ("test_videodatainfo.json", test)):
        subset = {**data, "videos": [v for v in data["videos"] if v["video_id"] in keep],
                  "sentences": [s for s in data["sentences"] if s["video_id"] in keep]}
        files.append(root / name)
        files[-1].write_text(json.dumps(subset))
    videos = root / "videos"
    videos.mkdir()
    for i, vid in enumerate(sorted(keep - set(chosen["test"][len(chosen["test"]) - missing:]))):
        write_video(videos / f"{vid}.mp4", (counter_frame(37 * i + k) for k in range(12)), fps=6)
    return videos, files


def _command(videos: Path, files: list[Path], out: Path) -> list[str]:
    return [sys.executable, str(ROOT / "tools" / "reproduce.py"), "msrvtt", "--video-dir", str(videos),
            *(a for f in files for a in ("--annotations", str(f))), "--out", str(out), "--seeds", "1",
            "--smoke", "--device", "cpu", "--workers", "0"]


def test_every_published_number_is_in_the_readme_with_its_source():
    readme = (ROOT / "README.md").read_text()
    for config, rows in PUBLISHED.items():
        assert f"`{config}.yaml`" in readme
        for row in rows:
            assert " | ".join(f"{s:.1f}" for s in row.scores) in readme, (config, row.model)
            assert row.commit[:7] in readme if row.commit else row.source.split(",")[0] in readme
    assert [r.name for r in DATASETS["msrvtt"].runs] == ["mp_lstm_msrvtt", "s2vt_msrvtt", "sa_lstm_msrvtt",
                                                        "sa_lstm_msrvtt-hobincar", "sa_lstm_scst_msrvtt"]


@pytest.mark.slow
def test_smoke_reproduction_end_to_end_resumed_after_an_interruption(tmp_path):
    videos, files = make_msrvtt_like(tmp_path)
    out = tmp_path / "repro"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}  # this checkout's vidcap
    # First run: killed as soon as the first training run has finished (its step record appears).
    first = subprocess.Popen(_command(videos, files, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env)
    marker = out / "steps" / "train-mp_lstm_msrvtt-seed0.json"
    deadline = time.monotonic() + 300
    while not marker.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    log = first.communicate()[0]
    assert marker.exists(), log[-3000:]
    assert "videos without a file" in log and "test 1 of 4" in log
    assert not (out / "results.md").exists()
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "steps").iterdir()}

    second = subprocess.run(_command(videos, files, out), capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "extract-resnet152: done before" in second.stdout  # (with resnet18 settings: --smoke)
    assert "extract-resnet152-hobincar: done before" in second.stdout
    assert "train-mp_lstm_msrvtt-seed0: done before" in second.stdout
    for name, mtime in done_before.items():  # finished steps were not redone
        assert (out / "steps" / name).stat().st_mtime_ns == mtime

    results = json.loads((out / "results.json").read_text())
    assert results["smoke"] and results["videos_without_file"]["test"] == {"missing": 1, "annotated": 4}
    assert list(results["configs"]) == [r.name for r in DATASETS["msrvtt"].runs]
    for entry in results["configs"].values():
        seed = entry["seeds"][0]
        assert (seed["videos_scored"], seed["videos_in_split"]) == (3, 4)
        assert set(entry["mean"]) == {"Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
        captions = json.loads(Path(seed["captions"]).read_text())
        assert len(captions) == 3 and all("<unk>" not in c["caption"] for c in captions)
        assert seed["config"]["train"]["seed"] == 0 and seed["config"]["data"]["allow_missing"] is True
        # per seed: the selected epoch and its criterion, the test decoding, vocabulary and caption lengths
        assert 1 <= seed["selected_epoch"] <= seed["epochs_run"] and seed["criterion"] == "best validation CIDEr"
        assert seed["decoding"]["beam_size"] == seed["config"]["eval"]["beam_size"]
        assert seed["vocabulary_size"] > 4 and seed["caption_words"]["max"] <= 10
        assert seed["precision"] == "fp32"  # train.amp: off in every paper config
        for pub in entry["published"]:  # smoke features: never like-for-like
            assert pub["verdict"].startswith("not like-for-like") and any(
                d.startswith("features:") for d in pub["differences"])
    scst = results["configs"]["sa_lstm_scst_msrvtt"]["seeds"][0]["config"]["train"]
    assert scst["init"].endswith("runs/sa_lstm_msrvtt/seed0/best.pt") and scst["schedule"] == "constant"
    assert results["feature_specs"]["resnet152"]["backbone"] == "resnet18"
    assert results["feature_specs"]["resnet152-hobincar"]["sampling"]["stride"] == 2
    assert results["configs"]["s2vt_msrvtt"]["seeds"][0]["decoding"]["beam_size"] == 1  # its config's, not 5
    hob = results["configs"]["sa_lstm_msrvtt"]["published"][0]
    assert hob["commit"].startswith("ce43738") and any(d.startswith("split:") for d in hob["differences"])
    md = (out / "results.md").read_text()
    assert "Smoke run" in md and "38.6" in md and "vidcap train" in md and "test 1 of 4" in md
    assert "| verdict |" in md and "## Like-for-like" in md and "## Per seed" in md and "not like-for-like" in md
    assert "selected epoch" in md and "--stride 2" in md
    copied = (out / "configs" / "sa_lstm_msrvtt.yaml").read_text()
    assert copied == (ROOT / "configs" / "sa_lstm_msrvtt.yaml").read_text()
    # The SCST config builds on sa_lstm_msrvtt.yaml (_base_): the copies load to the merged config it ran.
    ran = results["configs"]["sa_lstm_scst_msrvtt"]["seeds"][0]["config"]
    assert ran["model"]["init_state"] == "zero" and ran["data"]["references"] == "sample"  # base's, SCST's
    assert OmegaConf.to_container(load_config(out / "configs" / "sa_lstm_scst_msrvtt.yaml")) == \
        OmegaConf.to_container(load_config(ROOT / "configs" / "sa_lstm_scst_msrvtt.yaml"))

    # The same command once more: nothing to do, the same results.
    third = subprocess.run(_command(videos, files, out), capture_output=True, text=True, env=env, timeout=600)
    assert third.returncode == 0 and "running" not in third.stdout
    assert json.loads((out / "results.json").read_text())["configs"] == results["configs"]
