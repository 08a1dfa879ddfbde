"""Score COCO results files against MSR-VTT-schema annotations with the Python API.

Like ``vidcap score``, and also: several results files in one run (one table each, e.g. to compare
runs), all splits at once (``--split all`` scores each split that the results cover), and a compact
one-line-per-file summary (``--summary``). The rules for results files are those of ``vidcap score``
(see ``vidcap score --help``). Exit status: 0 scored, 1 bad input, 2 usage error.

Example:
    $ python tools/evaluate.py runs/a/test.json runs/b/test.json \\
          --annotations tests/assets/msrvtt/test_videodatainfo.json --summary
    $ python tools/evaluate.py results.json --annotations ann.json --split test --json scores.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidcap.data.annotations import SPLITS, Annotations
from vidcap.errors import VidcapError
from vidcap.metrics.scoring import check_results, load_results, score_results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", type=Path, help="COCO results JSON file(s)")
    p.add_argument("--annotations", required=True, type=Path, action="append",
                   help="MSR-VTT-schema annotations (repeatable)")
    p.add_argument("--split", default="test", choices=[*SPLITS, "all"],
                   help="split to score; 'all': every split the results cover (default: test)")
    p.add_argument("--json", type=Path, help="write the scores here (with several results or splits: "
                                              "one file per run, named <stem>.<results stem>.<split>.json)")
    p.add_argument("--allow-missing", action="store_true", help="score the videos present only")
    p.add_argument("--no-java", action="store_true", help="skip METEOR/SPICE, Python tokenizer: NOT comparable")
    p.add_argument("--spice", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--summary", action="store_true", help="one line per results file instead of tables")
    args = p.parse_args(argv)
    try:
        ann = Annotations.load(*args.annotations)
        runs = []
        for path in args.results:
            items = load_results(path)
            per_split = {args.split: items} if args.split != "all" else _by_split(items, ann, str(path))
            for split, chosen in per_split.items():
                report = score_results(chosen, ann, split=split, java=not args.no_java, spice=args.spice,
                                       source=str(path), allow_missing=args.allow_missing or args.split == "all")
                runs.append((path, split, report))
        for path, split, report in runs:
            if args.summary:
                print(f"{path}\t{split}\t" + "\t".join(f"{m}={100 * v:.2f}" for m, v in report.overall.items()))
            else:
                print(report.table() + "\n")
            if args.json:
                single = len(runs) == 1
                target = args.json if single else args.json.with_name(
                    f"{args.json.stem}.{path.stem}.{split}{args.json.suffix or '.json'}")
                report.write_json(target)
    except VidcapError as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def _by_split(items: list, ann: Annotations, source: str) -> dict[str, list]:
    """The entries of each split the results cover, after checking them all against every split."""
    captions, _ = check_results(items, split_ids=ann.ids(), source=source, allow_missing=True)
    out: dict[str, list] = {}
    for vid, caption in captions.items():
        out.setdefault(ann.videos[vid].split, []).append({"video_id": vid, "caption": caption})
    return {split: out[split] for split in SPLITS if split in out}


if __name__ == "__main__":
    raise SystemExit(main())
