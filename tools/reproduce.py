#!/usr/bin/env python
"""Reproduce a dataset's published table with vidcap's paper configs, end to end, in one command.

    $ python tools/reproduce.py msrvtt --video-dir MSRVTT/videos \\
          --annotations train_val_videodatainfo.json --annotations test_videodatainfo.json \\
          --out repro/msrvtt --device cuda

Extracts the features once per store (vidcap's standard ResNet-152 store, and hobincar/SA-LSTM's way for
the SA-LSTM run compared with its row), trains the paper configs (MP-LSTM, S2VT, SA-LSTM with
cross-entropy on both stores, SA-LSTM + SCST) over the seeds (default 5, as hobincar/SA-LSTM averages),
tests each with its config's decoding settings, and writes OUT/results.md and OUT/results.json: mean ±
std and per-seed scores beside every published row, with a like-for-like verdict and the protocol
differences listed. Run the same command again to resume after an interruption. --smoke runs tiny
settings that finish in minutes on a CPU. The logic lives in vidcap.reproduce.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vidcap.errors import VidcapError
from vidcap.reproduce import DATASETS, reproduce
from vidcap.reproduce.plan import DEFAULT_SEEDS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--video-dir", required=True, type=Path, help="the videos, named <video_id>.<ext>")
    parser.add_argument("--annotations", required=True, type=Path, action="append",
                        help="annotation file (MSR-VTT schema); repeat for several")
    parser.add_argument("--out", required=True, type=Path, help="folder for features, runs and results")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                        help=f"training seeds per config (default {DEFAULT_SEEDS}: hobincar/SA-LSTM reports the mean "
                             "of 5 runs)")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: minutes on a CPU, not results")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--workers", type=int, default=2, help="video decoding processes for extraction")
    parser.add_argument("--configs", type=Path, default=CONFIGS, help="folder of the paper configs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        reproduce(args.dataset, video_dir=args.video_dir, annotations=args.annotations, out=args.out,
                  seeds=args.seeds, configs_dir=args.configs, smoke=args.smoke, device=args.device,
                  workers=args.workers, say=lambda line: print(line, flush=True))
    except VidcapError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
