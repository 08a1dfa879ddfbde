"""`vidcap convert`: other datasets' annotations into the annotation schema."""
from __future__ import annotations

import argparse

from vidcap.cli.base import Command


def _add_convert(p: argparse.ArgumentParser) -> None:
    from vidcap.data.convert import add_convert_arguments  # one sub-command per registered dataset

    add_convert_arguments(p)


def _run_convert(args: argparse.Namespace) -> int:
    from vidcap.data.convert import convert_from_args

    conversion = convert_from_args(args)
    print(f"wrote {args.out}")
    print(conversion.report(verbose=args.list_left_out))
    return 0


COMMANDS: list[Command] = [
    Command("convert", "convert another dataset's annotations (MSVD, VATEX) to the annotation schema",
            _add_convert, _run_convert),
]
