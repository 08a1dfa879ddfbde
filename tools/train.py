"""Train a captioning model from a YAML config: ``python tools/train.py ARGS`` is ``vidcap train ARGS``.

The same arguments, output and exit status as the command (``vidcap train --help``): this script only
hands its arguments to the CLI, so the two cannot drift apart.

Example:
    $ python tools/train.py configs/sa_lstm_msrvtt.yaml data.features=feats/resnet152 out=runs/sa
    $ torchrun --nproc_per_node=4 tools/train.py configs/sa_lstm_msrvtt.yaml out=runs/sa4
    $ python tools/train.py configs/sa_lstm_msrvtt.yaml out=runs/sa --resume
"""
from __future__ import annotations

import sys

from vidcap.cli import main as vidcap


def main(argv: list[str] | None = None) -> int:
    """Run ``vidcap train`` with ``argv`` (default: this script's command line); its exit status."""
    return vidcap(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
