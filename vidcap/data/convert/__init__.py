"""Other datasets' annotation files → vidcap's annotation schema (MSR-VTT's videodatainfo.json).

Each dataset is one entry of the ``CONVERTERS`` registry: a class with a ``help`` line,
``add_arguments(parser)`` (its command-line options) and ``convert(args) -> Conversion``. ``vidcap
convert NAME`` is built from the registry, so a new dataset needs no change to the command line.

Example:
    >>> CONVERTERS.names()
    ['msvd', 'vatex']
    >>> from vidcap.data.convert.msvd import convert_msvd
    >>> conv = convert_msvd("MSR Video Description Corpus.csv", "youtube_mapping.txt")   # doctest: +SKIP
    >>> write_annotations(conv, "msvd.json")                                              # doctest: +SKIP
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vidcap.data.convert.common import Conversion, write_annotations
from vidcap.registry import Registry

CONVERTERS: Registry[Any] = Registry("dataset")


@CONVERTERS.register("msvd")
class MSVDConverter:
    """MSVD: the corpus CSV and youtube_mapping.txt (vidcap.data.convert.msvd)."""

    help = "MSVD: corpus CSV + youtube_mapping.txt, with the published 1200/100/670 split"

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--csv", required=True, type=Path, help='"MSR Video Description Corpus.csv"')
        p.add_argument("--mapping", required=True, type=Path,
                       help="youtube_mapping.txt: one '<VideoID>_<Start>_<End> vid<N>' line per clip")
        p.add_argument("--split-file", type=Path,
                       help='another split: JSON {"train": [...], "validate": [...], "test": [...]} of clip '
                            "names or vid<N> ids (default: vid1-1200 train, vid1201-1300 validate, "
                            "vid1301-1970 test)")

    @staticmethod
    def convert(args: argparse.Namespace) -> Conversion:
        from vidcap.data.convert.msvd import convert_msvd

        return convert_msvd(args.csv, args.mapping, split_file=args.split_file)


@CONVERTERS.register("vatex")
class VATEXConverter:
    """VATEX: the training, validation and public test JSON files (vidcap.data.convert.vatex)."""

    help = "VATEX: training / validation / public test JSON, English captions"

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--train", required=True, type=Path, help="vatex_training_v1.0.json")
        p.add_argument("--validate", required=True, type=Path, help="vatex_validation_v1.0.json")
        p.add_argument("--test", type=Path, help="vatex_public_test_english_v1.1.json (the split papers report on)")

    @staticmethod
    def convert(args: argparse.Namespace) -> Conversion:
        from vidcap.data.convert.vatex import convert_vatex

        return convert_vatex(args.train, args.validate, args.test)


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-command per registered dataset, each with its own options plus ``--out``/``--verbose``."""
    sub = parser.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    for name in CONVERTERS.names():
        converter = CONVERTERS.get(name)
        p = sub.add_parser(name, help=converter.help, description=converter.help)
        converter.add_arguments(p)
        p.add_argument("--out", required=True, type=Path, help="annotation file to write (MSR-VTT schema)")
        p.add_argument("--verbose", dest="list_left_out", action="store_true",
                       help="list every clip, row and caption that was left out")


def convert_from_args(args: argparse.Namespace) -> Conversion:
    """Run the converter ``args.dataset`` and write ``args.out``; returns the conversion for its report."""
    conversion = CONVERTERS.get(args.dataset).convert(args)
    write_annotations(conversion, args.out)
    return conversion


__all__ = ["CONVERTERS", "Conversion", "add_convert_arguments", "convert_from_args", "write_annotations"]
