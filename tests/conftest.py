"""Shared test set-up: offline library settings, thread counts, the real-data fixtures, and the session's
expensive artefacts (the tiny trained model and its model folder), made once and shared by every test."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Offline and self-contained: nothing may reach the network or write to $HOME.
_TMP = Path(tempfile.mkdtemp(prefix="vidcap-tests-"))
for var, sub in (("YOLO_CONFIG_DIR", "yolo"), ("TORCH_HOME", "torch"), ("MPLCONFIGDIR", "mpl"), ("HF_HOME", "hf")):
    os.environ.setdefault(var, str(_TMP / sub))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm's weights: the Hugging Face cache only, never the network
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import torch  # noqa: E402  (after the environment is set)

torch.set_num_threads(os.cpu_count() or 1)

from tinytask import TINY, make_task  # noqa: E402  (helper modules: setup.cfg's pythonpath)
from exportkit import two_store_metas  # noqa: E402
from trainkit import TinyModel, train_tiny_model  # noqa: E402

from vidcap.config.loading import load_config  # noqa: E402
from vidcap.trained.model import export_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"  # part of the repository (tests/assets/README.md)
MSRVTT = ASSETS / "msrvtt"
REAL_VIDEOS = ("intel_bottle-detection.mp4", "intel_car-detection.mp4", "intel_eat.mkv",
               "intel_one-by-one-person-detection.mp4", "intel_walk.mkv")
MSRVTT_FILES = ("train_val_videodatainfo.json", "test_videodatainfo.json", "category.txt")


@pytest.fixture(scope="session")
def msrvtt_dir() -> Path:
    """tests/assets/msrvtt: real MSR-VTT annotations of 469 videos. They ship with the repository, so a
    missing file fails the test instead of skipping it."""
    missing = [name for name in MSRVTT_FILES if not (MSRVTT / name).is_file()]
    if missing:
        pytest.fail(f"{MSRVTT}: {', '.join(missing)} missing; restore them from git, or rebuild them with "
                    f"{MSRVTT / 'make_subset.py'}")
    return MSRVTT


@pytest.fixture(scope="session")
def real_videos() -> list[Path]:
    """The five real H.264 clips in tests/assets (tests/assets/README.md). They ship with the repository,
    so a missing one fails the test instead of skipping it."""
    missing = [name for name in REAL_VIDEOS if not (ASSETS / name).is_file()]
    if missing:
        pytest.fail(f"{ASSETS}: {', '.join(missing)} missing; restore them from git")
    return sorted(ASSETS / name for name in REAL_VIDEOS)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> TinyModel:
    """The small trained SA-LSTM of tests/trainkit.py (a TinyModel: best.pt, its run folder, clips, annotations,
    features), trained once per session. Tests must not change its files; copy them first."""
    return train_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_folder(tiny_model, tmp_path_factory) -> Path:
    """``tiny_model`` exported as a model folder (``vidcap export``), named tiny-sa-lstm. Read-only as well."""
    return export_model(tiny_model.ckpt, tmp_path_factory.mktemp("tiny-folder") / "tiny-sa-lstm")


# ------------------------------------------- the tiny learnable task of the config, training, trained-model and
# inference tests (tests/tinytask.py)

@pytest.fixture(scope="session")
def task(tmp_path_factory) -> tuple[Path, Path]:
    return make_task(tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="session")
def stores() -> list[dict]:
    """Store metadata of two real random-weight backbones (ResNet-18 frame + bilinear, YOLOv8n objects)."""
    return two_store_metas()


@pytest.fixture
def tiny_cfg(task, tmp_path):
    feats, ann = task

    def build(*overrides: str, out: Path | None = None):
        return load_config(None, [f"data.features={feats}", f"data.annotations={ann}",
                                  f"out={out or tmp_path / 'run'}", *TINY, *overrides])
    return build
