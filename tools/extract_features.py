"""Extract frame features into a store with the Python API, including backbone options the CLI
does not expose (``--opt grid=2``, ``--opt top_k=20 --opt conf=0.1``, ``--opt dtype=fp16``).

Same exit codes as ``vidcap extract``: 0 all done, 1 some videos failed (see OUT/failures.json),
2 usage error.

Example:
    $ python tools/extract_features.py --video-dir clips/ --out feats/ --backbone resnet50 --opt grid=2
    $ python tools/extract_features.py --video-dir msrvtt/videos --annotations test_videodatainfo.json \\
          --split test --out feats/ --backbone yolov8n --weights yolov8n.pt --frames 16
"""
from __future__ import annotations

import argparse
import ast
import logging
import sys
from pathlib import Path

from vidcap.errors import VidcapError
from vidcap.features.extract import collect_sources, extract, parse_shard
from vidcap.features.sources import missing_summary
from vidcap.video import Sampling


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value, e.g. grid=2")
    try:
        return key, ast.literal_eval(value)  # numbers stay numbers; anything else is a string
    except (ValueError, SyntaxError):
        return key, value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="*", type=Path, help="video files (or use --video-dir)")
    p.add_argument("--video-dir", type=Path)
    p.add_argument("--annotations", type=Path, action="append")
    p.add_argument("--split")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--backbone", required=True)
    p.add_argument("--weights", default="imagenet")
    p.add_argument("--frames", type=int)
    p.add_argument("--fps", type=float)
    p.add_argument("--batch-size", type=int, help="frames per forward pass (default: 16 on CPU, 64 on GPU)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device")
    p.add_argument("--shard", help="i/n (default: from torchrun's RANK/WORLD_SIZE)")
    p.add_argument("--opt", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="backbone option passed to get_backbone (repeatable)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        sampling = Sampling.from_options(frames=args.frames, fps=args.fps)
        sources = collect_sources(args.videos, video_dir=args.video_dir, annotations=args.annotations,
                                  split=args.split)
        report = extract(sources, args.out, backbone=args.backbone, weights=args.weights, sampling=sampling,
                         batch_size=args.batch_size, workers=args.workers, device=args.device,
                         shard=parse_shard(args.shard), options=dict(args.opt))
    except VidcapError as err:
        print(f"extract_features: error: {err}", file=sys.stderr)
        return err.exit_code
    print(report.summary())
    missing = missing_summary(sources)  # annotated videos without a file, per split
    if missing:
        print(missing)
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
