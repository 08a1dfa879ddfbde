"""`vidcap compare` at the MSR-VTT test-set size (2,990 videos x 20 references).

Two synthetic systems made of real MSR-VTT sentences (mostly wrong captions, as the ``cider`` benchmark's):
A captions each video with the first sentence of the next video, B with the second sentence of the video
two ahead. Cases:

- ``compare_stats``: :func:`vidcap.metrics.significance.compare` alone on the two scored evaluations
  (``--resamples`` bootstrap resamples + as many randomization shuffles, all seven metrics);
  ratio = the scoring time of both systems / this time;
- ``compare_command``: wall time of ``vidcap compare A.json B.json --annotations ...`` in a fresh process
  (loading, PTB tokenisation and METEOR for both files, the statistics, the table); ratio = its
  scoring share (scoring both / whole command).

Example:
    $ python tools/benchmark.py compare --json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vidcap.data.annotations import Annotations
from vidcap.metrics.meteor import MeteorPool, available_cores, meteor_processes
from vidcap.metrics.scoring import score_results
from vidcap.metrics.significance import compare

# The MSR-VTT subset kept in the repository; docs/benchmarks.md's figures name the full test file.
DEFAULT_ANN = Path(__file__).resolve().parents[2] / "tests" / "assets" / "msrvtt" / "test_videodatainfo.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", type=Path, default=DEFAULT_ANN, help="MSR-VTT test_videodatainfo.json (default: the subset in tests/assets)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of compare_stats (best is kept)")
    parser.add_argument("--skip-command", action="store_true", help="skip the (about 1 min) command case")


def _systems(ann: Annotations) -> tuple[list[dict], list[dict]]:
    ids = ann.ids("test")
    refs = ann.references(ids)
    a = [{"video_id": v, "caption": refs[ids[(i + 1) % len(ids)]][0]} for i, v in enumerate(ids)]
    b = [{"video_id": v, "caption": refs[ids[(i + 2) % len(ids)]][1]} for i, v in enumerate(ids)]
    return a, b


def run(args: argparse.Namespace) -> list[dict]:
    ann = Annotations.load(args.annotations)
    a, b = _systems(ann)
    refs = sum(len(r) for r in ann.references(ann.ids("test")).values())
    start = time.perf_counter()
    with MeteorPool(meteor_processes(len(a))) as pool:
        ev_a = score_results(a, ann, spice="off", meteor=pool).evaluation
        ev_b = score_results(b, ann, spice="off", meteor=pool).evaluation
    score_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(max(args.repeat, 1)):
        start = time.perf_counter()
        result = compare(ev_a, ev_b, resamples=args.resamples, seed=0)
        best = min(best, time.perf_counter() - start)
    load = os.getloadavg()[0]
    cases = [{"case": "compare_stats", "videos": len(a), "references": refs, "resamples": args.resamples,
              "metrics": len(result.metrics), "compare_s": round(best, 3), "score_both_s": round(score_s, 2),
              "cider_delta": result.metrics["CIDEr"]["delta"], "cores": available_cores(), "load_avg_1min": load,
              "ratio": round(score_s / best, 2)}]
    if not args.skip_command:
        with tempfile.TemporaryDirectory() as tmp:
            paths = [Path(tmp) / "a.json", Path(tmp) / "b.json"]
            for path, items in zip(paths, (a, b)):
                path.write_text(json.dumps(items))
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "vidcap", "compare", str(paths[0]), str(paths[1]),
                                   "--annotations", str(args.annotations), "--resamples", str(args.resamples),
                                   "--json", str(Path(tmp) / "out.json")], capture_output=True, text=True, check=False)
            command_s = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"vidcap compare failed: {done.stderr[-2000:]}")
            same = json.loads((Path(tmp) / "out.json").read_text())["metrics"] == result.metrics
        cases.append({"case": "compare_command", "videos": len(a), "resamples": args.resamples,
                      "command_s": round(command_s, 2), "score_both_s": round(score_s, 2),
                      "same_numbers": same, "load_avg_1min": os.getloadavg()[0],
                      "table": done.stdout.strip().splitlines()[3:11], "ratio": round(score_s / command_s, 3)})
    return cases
