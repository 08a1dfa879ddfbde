"""The ``vidcap`` command. Thin: parses arguments and calls the stages' Python API.

Each sub-command is a :class:`~vidcap.cli.base.Command`: an ``_add_<name>`` function (its arguments)
and a ``_run_<name>`` function (the call into the package), defined in the module of its group
(``features``, ``training``, ``captioning``, ``evaluation``, ``data``) and collected in ``COMMANDS``. Exit status: 0 success,
1 when some input failed (the message or DIR/failures.json says which), 2 on a usage error.

Example:
    $ vidcap extract --video-dir clips/ --backbone resnet18 --weights none --out feats/
    $ vidcap train configs/sa_lstm_msrvtt.yaml data.features=feats/ out=runs/sa
    $ vidcap caption clip.mp4 --model runs/sa/best.pt
"""
from __future__ import annotations

import argparse
import logging
import sys

from vidcap.version import __version__
from vidcap.cli import captioning, data, evaluation, features, sharing, training
from vidcap.cli.base import Command, HelpFormatter, switches
from vidcap.cli.captioning import weights_values
from vidcap.cli.features import backbone_option_values
from vidcap.errors import VidcapError

__all__ = ["COMMANDS", "Command", "backbone_option_values", "build_parser", "main", "weights_values"]

log = logging.getLogger("vidcap")

# The order `vidcap --help` lists them in: the pipeline, then the rest.
COMMANDS: list[Command] = [
    *features.COMMANDS[:1], *training.COMMANDS[:2], *captioning.COMMANDS, *evaluation.COMMANDS, *sharing.COMMANDS,
    *training.COMMANDS[2:],
    *data.COMMANDS, *features.COMMANDS[1:],
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcap", formatter_class=HelpFormatter,
        description="Caption videos with ResNet/YOLO frame features and LSTM/GRU decoders, and score captions "
                    "with the COCO caption metrics.",
        epilog="examples:\n" + "\n".join("  " + line.strip()[2:] for line in __doc__.splitlines() if line.strip().startswith("$ "))
        + "\n\n`vidcap COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"vidcap {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and every failed or missing input listed (not only the first few)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = switches()  # -v/-q also after the command name: `vidcap extract ... --quiet`
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help, epilog=command.epilog,
                           formatter_class=HelpFormatter, parents=[common])
        command.add(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from vidcap import progress

    progress.configure(quiet=args.quiet, verbose=args.verbose)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.run(args)
    except VidcapError as err:
        print(f"vidcap {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vidcap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
