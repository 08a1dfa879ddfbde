"""Caption video files with a trained checkpoint through the Python API, optionally per segment.

Prints ``path<TAB>caption`` per video, and with ``--segment`` each window as ``start-end<TAB>caption``
under it. Exit status 1 when some video could not be read (the others are still captioned).

Example:
    $ python tools/caption_video.py runs/sa/best.pt clip.mp4 other.mkv
    $ python tools/caption_video.py runs/sa/best.pt long.mp4 --segment 10 --beam-size 3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidcap.engine.captioner import Captioner
from vidcap.errors import VidcapError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("videos", nargs="+", type=Path)
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--segment", type=float, metavar="SECONDS")
    p.add_argument("--device")
    args = p.parse_args(argv)
    try:
        captioner = Captioner.from_checkpoint(args.checkpoint, device=args.device)
    except VidcapError as err:
        print(f"caption_video: error: {err}", file=sys.stderr)
        return err.exit_code
    failed = 0
    for video in args.videos:
        try:
            described = captioner.describe(video, beam_size=args.beam_size, segment=args.segment)
        except VidcapError as err:
            print(f"caption_video: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{video}\t{described.caption}")
        if args.segment:
            for start, end, text in described.segments:
                print(f"  {start:.1f}-{end:.1f}\t{text}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
