"""vidcap/demo/run.py through the command line: the reduced (--quick) demo end to end, and its metrics file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vidcap.demo.synthetic import attribute_accuracy, load_attributes
from vidcap.metrics.coco import METRICS


@pytest.mark.slow
def test_quick_demo_runs_the_whole_pipeline(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "vidcap", "demo", "--quick", "--out", str(out)],
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((out / "metrics.json").read_text())
    paths = {k: Path(v) for k, v in summary["paths"].items()}
    assert all(p.exists() for p in paths.values()), summary["paths"]
    # Offline there are no ImageNet weights: the demo says so and records it.
    assert summary["weights"] == "none" and "random weights" in run.stdout
    # Every COCO metric but SPICE (its CoreNLP models cannot be had offline: skipped with a reason).
    assert set(summary["scores"]) == set(METRICS) - {"SPICE"}
    assert any("SPICE" in note for note in summary["score_notes"]) and summary["comparable_to_published"]
    scores = json.loads(paths["scores"].read_text())
    assert scores["overall"] == summary["scores"] and scores["videos_scored"] == summary["clips"]["test"]
    # The attribute accuracy is that of the written results against the generator's ground truth.
    results = json.loads(paths["results"].read_text())
    truth = {k: v for k, v in load_attributes(paths["annotations"].parent / "attributes.json").items()
             if v["split"] == "test"}
    assert sorted(r["video_id"] for r in results) == sorted(truth)
    assert attribute_accuracy(results, truth) == summary["attribute_accuracy"]
    srt = paths["srt"].read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and summary["example"]["caption"]
    assert paths["preview"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["seconds"]["total"] > 0 and "where everything is" in run.stdout
    # Run again in the same folder: everything is reused, nothing is redone or lost.
    again = subprocess.run([sys.executable, "-m", "vidcap", "demo", "--quick", "--out", str(out)],
                           capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["scores"] == summary["scores"]


def test_clips_of_another_profile_in_the_folder_are_refused_not_mixed(tmp_path):
    from vidcap.demo.synthetic import generate
    from vidcap.demo.run import run_demo
    from vidcap.errors import UsageError

    generate(tmp_path / "clips", n_videos=5, seed=0)
    before = {p: p.read_bytes() for p in (tmp_path / "clips").rglob("*") if p.is_file()}
    with pytest.raises(UsageError, match=r"clips.*holds the 5 clips of another demo profile.*--out"):
        run_demo(tmp_path, quick=True, java=False)
    assert {p: p.read_bytes() for p in (tmp_path / "clips").rglob("*") if p.is_file()} == before
    assert not (tmp_path / "features").exists()
