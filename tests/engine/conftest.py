"""Fixtures for the engine tests (the task itself is in enginekit.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from enginekit import TINY, make_task

from vidcap.engine.config import load_config


@pytest.fixture(scope="session")
def task(tmp_path_factory) -> tuple[Path, Path]:
    return make_task(tmp_path_factory.mktemp("task"))


@pytest.fixture
def tiny_cfg(task, tmp_path):
    feats, ann = task

    def build(*overrides: str, out: Path | None = None):
        return load_config(None, [f"data.features={feats}", f"data.annotations={ann}",
                                  f"out={out or tmp_path / 'run'}", *TINY, *overrides])
    return build
