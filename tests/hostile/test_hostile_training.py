"""Training on hostile data (vidcap/training/trainer.py, vidcap/features/store.py, vidcap/data/loader.py).

Real `vidcap train` runs of the training tests' tiny task (tests/tinytask.py), frames stored as
float32 so that a finite store can still overflow: with ``data.deltas`` on, frames alternating between
+3e38 and -3e38 differ by 6e38, beyond float32, and the loss becomes NaN although every stored value is
finite. A run stops with exit 1 and a message saying where (epoch, step, the batch's videos, or the
store, video and stream), and the checkpoints of the last good epoch stay byte for byte as they were.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tinytask import TINY, make_task
from hostilekit import Case, refused, snapshot, unchanged, vidcap

CONFIG = Path(__file__).resolve().parents[1] / "tiny.yaml"
# Normalising would scale the overflow away; deltas make it overflow float32 inside vidcap.
SETTINGS = [*TINY, "data.normalize=false", "data.deltas=true", "data.cache_mb=0"]
TRAIN_IDS = [f"v{i}" for i in range(24)]  # tinytask's training split


def _args(task: Path, out: Path, *more: str) -> list[str]:
    return ["train", CONFIG, *SETTINGS, f"data.features={task / 'feats'}", f"data.annotations={task / 'ann.json'}",
            f"out={out}", *more]


def _rewrite(store: Path, vid: str, frame) -> None:
    """Replace one video's frames in place, keeping the entry's other members (as a bad disk or an
    attacker would; the dtype and shape stay what meta.json says)."""
    file = store / "videos" / f"{vid}.npz"
    with np.load(file) as entry:
        members = dict(entry)
    members["frame"] = frame(members["frame"]).astype(members["frame"].dtype)
    np.savez(file, **members)


def _overflowing(frame: np.ndarray) -> np.ndarray:
    out = np.empty_like(frame)
    out[0::2], out[1::2] = 3e38, -3e38
    return out


def _nan(frame: np.ndarray) -> np.ndarray:
    out = frame.copy()
    out[2, 5] = np.nan
    return out


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """One good epoch: a float32 task and its run folder (best.pt, last.pt, metrics.json)."""
    root = tmp_path_factory.mktemp("task")
    make_task(root, dtype="float32")
    run = vidcap(*_args(root, root / "run", "train.epochs=1"), timeout=600)
    assert run.returncode == 0, run.stderr
    shutil.copytree(root / "feats", root / "feats.orig")
    return root


@pytest.fixture
def task(good_run):
    """The good run's task, its store restored to what the good epoch read."""
    shutil.rmtree(good_run / "feats")
    shutil.copytree(good_run / "feats.orig", good_run / "feats")
    return good_run


RESUMED = [
    Case("nan-in-a-store-entry-read-by-a-worker", (lambda store: _rewrite(store, "v0", _nan), ["train.workers=1"]),
         ("feature store", "feats", "video 'v0'", "stream frame", "non-finite", "first at index (2, 5)")),
    Case("finite-store-overflowing-to-a-nan-loss", (lambda store: [_rewrite(store, v, _overflowing) for v in TRAIN_IDS],
                                                    []),
         ("training stopped at epoch 2, step 7", "the loss is nan", "batch of videos v",
          "last.pt (epoch 1) is kept as it was")),
]


@pytest.mark.slow  # task: ~10 s module fixture (a trained run)
@pytest.mark.parametrize("case", RESUMED, ids=lambda c: c.name)
def test_a_run_resumed_on_hostile_data_stops_and_keeps_the_last_good_checkpoints(task, case):
    tamper, more = case.make
    tamper(task / "feats")
    before = snapshot(task / "run")
    run = vidcap(*_args(task, task / "run", "train.epochs=2", *more), "--resume", timeout=600)
    refused(run, status=case.status, names=case.names)
    unchanged(before, task / "run", allowed=("tb/", "config.yaml"))  # logs; the config it resumed with
    assert {"best.pt", "last.pt", "metrics.json"} <= set(before)


def test_a_fresh_run_whose_loss_is_nan_at_once_writes_no_checkpoint(tmp_path):
    make_task(tmp_path, dtype="float32")
    for vid in TRAIN_IDS:
        _rewrite(tmp_path / "feats", vid, _overflowing)
    run = vidcap(*_args(tmp_path, tmp_path / "run", "train.epochs=2"), timeout=600)
    refused(run, status=1, names=("training stopped at epoch 1, step 1", "the loss is nan",
                                  "no checkpoint was written"))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.yaml"]
