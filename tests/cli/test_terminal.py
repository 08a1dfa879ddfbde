"""`vidcap extract` and `vidcap caption` as a person sees them: under a pseudo-terminal the progress bar
appears and reaches its end; with stderr redirected, nothing but the results and the summary is printed."""
from __future__ import annotations

import errno
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from trainkit import TinyModel

ROOT = Path(__file__).resolve().parents[2]
EXTRACT = ["extract", "--backbone", "resnet18", "--weights", "none", "--option", "input_size=64", "--frames", "4",
           "--workers", "0"]


def _in_terminal(args: list[str], timeout: float = 240) -> tuple[int, str]:
    """Run ``vidcap ARGS`` with stdin, stdout and stderr on a pseudo-terminal; (exit status, what it showed)."""
    leader, follower = pty.openpty()
    # A terminal window 120 columns wide (a fresh pty has size 0x0, in which tqdm draws an empty bar).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "vidcap", *args], cwd=ROOT, stdin=follower, stdout=follower,
                            stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks = []
    try:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError as err:  # EIO: the child closed the terminal
                if err.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


def _redirected(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidcap", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, check=False)


@pytest.mark.slow
def test_extract_shows_a_bar_on_a_terminal_and_only_the_summary_otherwise(real_videos: list[Path],
                                                                           tmp_path: Path) -> None:
    videos = [str(v) for v in real_videos[:3]] + [str(tmp_path / "gone.mp4")]
    code, shown = _in_terminal([*EXTRACT, *videos, "--out", str(tmp_path / "tty")])
    assert code == 1  # one video has no file
    assert "extract: 100%" in shown and "4/4" in shown  # drawn, and finished
    assert "extracted 3 of 4 videos" in shown and "1 of 4 videos failed" in shown

    done = _redirected([*EXTRACT, *videos, "--out", str(tmp_path / "pipe")])
    assert done.returncode == 1
    assert done.stderr == ""  # no bar, no per-video warning
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'pipe'}: extracted 3 of 4 videos")
    assert lines[1:] == [f"1 of 4 videos failed (all listed in {tmp_path / 'pipe' / 'failures.json'}):",
                         "  gone: no such file"]


@pytest.mark.slow
def test_quiet_hides_the_bar_on_a_terminal(real_videos: list[Path], tmp_path: Path) -> None:
    code, shown = _in_terminal([*EXTRACT, str(real_videos[0]), "--out", str(tmp_path / "q"), "--quiet"])
    assert code == 0 and "%|" not in shown and "extracted 1 of 1 videos" in shown


@pytest.mark.slow
def test_caption_shows_a_bar_on_a_terminal_and_only_captions_otherwise(real_videos: list[Path], tmp_path: Path,
                                                                       tiny_model: TinyModel) -> None:
    model = str(tiny_model.ckpt)
    videos = [str(v) for v in real_videos[:3]]
    code, shown = _in_terminal(["caption", *videos, "--model", model, "--output-dir", str(tmp_path / "o")])
    assert code == 0
    assert "caption: 100%" in shown and "3/3" in shown
    assert all(f"{v}\t" in shown for v in videos)

    done = _redirected(["caption", *videos, "--model", model])
    assert done.returncode == 0 and done.stderr == ""
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == videos
