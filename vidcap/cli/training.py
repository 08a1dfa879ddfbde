"""`vidcap train`, `vidcap config` and `vidcap demo`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vidcap.cli.base import Command


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="YAML config (see configs/; `_base_: other.yaml` builds on another)")
    p.add_argument("overrides", nargs="*", metavar="key=value|~key",
                   help="dotted overrides, e.g. data.features=feats/ train.epochs=30 out=runs/x; ~key (or "
                        "key=null) unsets a key: back to its default, e.g. model.name=topdown ~model.encoder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.epilog = ("Every config key with its type, allowed values, default and meaning: `vidcap config show`\n"
                "(`vidcap config show CONFIG.yaml key=value ...`: the values that config and overrides give).\n"
                "Scores: the log prints validation metrics x100 (as papers and `vidcap score` tables do);\n"
                "OUT/metrics.json and the summary printed at the end keep pycocoevalcap's raw values.")


def _run_train(args: argparse.Namespace) -> int:
    from vidcap.config.loading import load_config
    from vidcap.training.trainer import train

    cfg = load_config(args.config, args.overrides)
    summary = train(cfg, resume=args.resume)
    if summary is not None:  # only rank 0 returns a summary under torchrun
        print(json.dumps(summary, indent=2))
    return 0


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"],
                   help="show: every training config key with its type, allowed values, value, default and "
                        "meaning, as a commented YAML config")
    p.add_argument("items", nargs="*", metavar="CONFIG.yaml|key=value|~key",
                   help="an optional config file first, then dotted overrides (as for `vidcap train`)")


def _run_config(args: argparse.Namespace) -> int:
    from vidcap.config.loading import describe, load_config

    items = list(args.items)
    path = items.pop(0) if items and "=" not in items[0] and not items[0].startswith("~") else None
    print(describe(load_config(path, items)), end="")
    return 0


def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("vidcap-demo"), help="where everything is written")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (used by the tests)")
    p.add_argument("--no-java", action="store_true", help="skip METEOR/SPICE (no Java needed)")


def _run_demo(args: argparse.Namespace) -> int:
    from vidcap.demo.run import run_demo

    run_demo(args.out, quick=args.quick, java=not args.no_java)
    return 0


COMMANDS: list[Command] = [
    Command("train", "train a captioning model from a YAML config", _add_train, _run_train),
    Command("config", "show every training config key with its type, default and meaning", _add_config, _run_config),
    Command("demo", "offline end-to-end run on synthetic clips", _add_demo, _run_demo),
]
