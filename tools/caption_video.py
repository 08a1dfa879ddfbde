"""Caption video files with a trained checkpoint: ``python tools/caption_video.py ARGS`` is ``vidcap caption ARGS``.

The same arguments, output and exit status as the command (``vidcap caption --help``): this script only
hands its arguments to the CLI, so the two cannot drift apart.

Example:
    $ python tools/caption_video.py clip.mp4 other.mkv --model runs/sa/best.pt
    $ python tools/caption_video.py long.mp4 --model runs/sa/best.pt --segment 10 --srt long.srt
"""
from __future__ import annotations

import sys

from vidcap.cli import main as vidcap


def main(argv: list[str] | None = None) -> int:
    """Run ``vidcap caption`` with ``argv`` (default: this script's command line); its exit status."""
    return vidcap(["caption", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
