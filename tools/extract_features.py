"""Extract frame features into a feature store: ``python tools/extract_features.py ARGS`` is ``vidcap extract ARGS``.

The same arguments, output and exit status as the command (``vidcap extract --help``): this script only
hands its arguments to the CLI, so the two cannot drift apart.

Example:
    $ python tools/extract_features.py --video-dir clips/ --out feats/ --backbone resnet50 --option grid=2
    $ python tools/extract_features.py --video-dir msrvtt/videos --annotations test_videodatainfo.json \\
          --split test --out feats/ --backbone yolov8n --frames 16
"""
from __future__ import annotations

import sys

from vidcap.cli import main as vidcap


def main(argv: list[str] | None = None) -> int:
    """Run ``vidcap extract`` with ``argv`` (default: this script's command line); its exit status."""
    return vidcap(["extract", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
