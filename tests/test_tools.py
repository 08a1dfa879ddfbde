"""tools/train.py, tools/extract_features.py, tools/caption_video.py: thin wrappers of the `vidcap` command.

(The train and caption wrappers also run for real, in tests/training/test_train.py and tests/inference/test_captioner.py.)
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidcap.cli import main
from vidcap.features import FeatureStore

from videogen import counter_frames, write_video

TOOLS = Path(__file__).resolve().parents[1] / "tools"
WRAPPERS = {"train": "train", "extract_features": "extract", "caption_video": "caption"}


def load_tool(name: str):
    """Import tools/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("tool, command", WRAPPERS.items())
def test_each_script_takes_exactly_the_commands_arguments(tool, command):
    script, cli = _run(str(TOOLS / f"{tool}.py"), "--help"), _run("-m", "vidcap", command, "--help")
    assert script.returncode == cli.returncode == 0 and script.stdout == cli.stdout
    assert f"usage: vidcap {command}" in script.stdout
    bad = _run(str(TOOLS / f"{tool}.py"), "--no-such-flag")
    assert bad.returncode == 2 and f"vidcap {command}: error: " in bad.stderr


def test_extract_script_writes_the_store_the_command_writes(tmp_path, capsys):
    clip = write_video(tmp_path / "clip0.mp4", counter_frames(12), fps=10)
    args = [str(clip), "--backbone", "resnet18", "--weights", "none", "--frames", "4", "--workers", "0",
            "--device", "cpu", "--no-progress", "--option", "input_size=64"]  # --option exists in the script
    assert load_tool("extract_features").main([*args, "--out", str(tmp_path / "by_script")]) == 0
    assert main(["extract", *args, "--out", str(tmp_path / "by_cli")]) == 0
    by_script, by_cli = FeatureStore(tmp_path / "by_script"), FeatureStore(tmp_path / "by_cli")
    assert list(by_script) == list(by_cli) == ["clip0"] and by_script.meta == by_cli.meta
    np.testing.assert_array_equal(by_script["clip0"]["frame"], by_cli["clip0"]["frame"])
    capsys.readouterr()
    assert load_tool("extract_features").main([*args[:-1], "imgsz=64", "--out", str(tmp_path / "bad")]) == 2
    assert "has no option 'imgsz'" in capsys.readouterr().err
