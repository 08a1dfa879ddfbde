"""What training does with the feature stores it is given (vidcap/training/rundata.py): damaged entries are
named, stores that sampled other frames are not combined."""
from __future__ import annotations

import numpy as np
import pytest

from vidcap.cli import main
from vidcap.config.loading import load_config
from vidcap.errors import InputError
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter
from vidcap.training.trainer import train

from tinytask import TINY, make_task


def test_a_damaged_entry_stops_training_with_the_video_named(tmp_path, capsys):
    feats, ann = make_task(tmp_path)
    entry = feats / "videos" / "v4.npz"
    entry.write_bytes(entry.read_bytes()[:150])  # a partial copy
    (tmp_path / "cfg.yaml").write_text("{}\n")
    code = main(["train", str(tmp_path / "cfg.yaml"), f"data.features={feats}", f"data.annotations={ann}",
                 f"out={tmp_path / 'run'}", *TINY, "train.epochs=1"])
    err = capsys.readouterr().err
    assert code == 1 and "video 'v4'" in err and str(entry) in err and "vidcap extract" in err, err
    assert "Traceback" not in err and not (tmp_path / "run" / "last.pt").exists()


def test_stores_that_sampled_other_frames_are_not_combined(tmp_path):
    feats, ann = make_task(tmp_path, frames=6)
    other = tmp_path / "objects"
    writer = StoreWriter(other, FeatureSpec.external("yolov8n", {"frame": "float16"}, frames=4), {"frame": [8]})
    for i in range(36):
        writer.write(f"v{i}", {"frame": np.zeros((4, 8))}, indices=np.arange(4), timestamps=np.arange(4.0), info={})
    cfg = load_config(None, [f"data.features=[{feats},{other}]", f"data.annotations={ann}", f"out={tmp_path / 'run'}",
                             *TINY, "train.epochs=1"])
    with pytest.raises(InputError, match=f"feature stores {other} and {feats} sampled other frames "
                                         r"\(sampling.frames: 4 vs 6\)"):
        train(cfg)
