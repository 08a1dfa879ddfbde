"""`vidcap compare`: is one results file better than another on the same videos, or is it noise?"""
from __future__ import annotations

import argparse
from pathlib import Path

from vidcap.cli.base import Command

COMPARE_HELP = """\
Scores both results files on the same videos (the rules of `vidcap score`; both must cover the split)
and, per metric, prints A, B, the difference B-A with its confidence interval from a paired bootstrap
over videos (each resample recomputes the corpus score as the scorer aggregates it: BLEU from n-gram
counts, METEOR from its statistics, ROUGE-L/CIDEr-D/SPICE as means of per-video scores), and a p-value
from paired approximate randomization (A's and B's caption of a video swapped at random). Scores are
printed x100; * marks p < 0.05. --json writes {"metrics": {metric: {"a", "b", "delta", "ci_low",
"ci_high", "p_value"}}, "videos", "resamples", "seed"} with unscaled scores.
"""


def _add_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", type=Path, metavar="A.json", help="COCO results file of the baseline")
    p.add_argument("b", type=Path, metavar="B.json", help="COCO results file compared with it")
    p.add_argument("--annotations", required=True, type=Path, action="append",
                   help="MSR-VTT-schema annotations (repeatable)")
    p.add_argument("--split", default="test", help="split to score (default: test)")
    p.add_argument("--json", type=Path, help="write the comparison here")
    p.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap resamples and randomization shuffles (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed of both (default 0)")
    p.add_argument("--no-java", action="store_true",
                   help="skip METEOR and SPICE and tokenise in Python: NOT comparable to published numbers")
    p.add_argument("--spice", choices=["auto", "on", "off"], default="off",
                   help="SPICE too (slow; needs its CoreNLP models): auto, on or off (default)")


def _run_compare(args: argparse.Namespace) -> int:
    from vidcap.files import write_json
    from vidcap.metrics.significance import compare_results_files

    result = compare_results_files(args.a, args.b, args.annotations, split=args.split, resamples=args.resamples,
                                   seed=args.seed, java=not args.no_java, spice=args.spice)
    print(result.table())
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


COMMANDS: list[Command] = [
    Command("compare", "is results file B better than A? paired bootstrap interval and randomization test "
            "per metric", _add_compare, _run_compare, epilog=COMPARE_HELP),
]
