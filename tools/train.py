"""Train a captioning model from a YAML config with the Python API (what ``vidcap train`` does), and print
the per-epoch validation table of the run when it ends.

Same exit codes as ``vidcap train``: 0 done, 1 an input problem (annotations, features, checkpoint),
2 a usage error (unknown config key, bad value).

Example:
    $ python tools/train.py configs/sa_lstm_msrvtt.yaml data.features=feats/resnet152 out=runs/sa
    $ torchrun --nproc_per_node=4 tools/train.py configs/sa_lstm_msrvtt.yaml out=runs/sa4
    $ python tools/train.py configs/sa_lstm_msrvtt.yaml out=runs/sa --resume
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vidcap.engine.config import load_config
from vidcap.engine.train import read_metrics, train
from vidcap.errors import VidcapError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", type=Path)
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        summary = train(load_config(args.config, args.overrides), resume=args.resume)
        if summary is None:  # not rank 0
            return 0
        records = read_metrics(summary["out"])
    except VidcapError as err:
        print(f"train: error: {err}", file=sys.stderr)
        return err.exit_code
    names = list(records[0]["val"]) if records else []
    print(f"{'epoch':>5} {'train_loss':>10} " + " ".join(f"{'val_' + n:>10}" for n in names))
    for r in records:
        mark = " *" if r["epoch"] == summary["best_epoch"] else ""
        print(f"{r['epoch']:>5} {r['train_loss']:>10.4f} " + " ".join(f"{r['val'][n]:>10.4f}" for n in names)
              + mark)
    print(f"best checkpoint: {summary['checkpoint']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
