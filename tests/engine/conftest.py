"""Fixtures for the engine tests (what they build is in tests/enginekit.py and tests/exportkit.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from enginekit import TINY, make_task
from exportkit import two_store_metas

from vidcap.config.loading import load_config


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
