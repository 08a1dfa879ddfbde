"""Run one benchmark: ``python tools/benchmark.py NAME [--json] [options]``.

Each benchmark is a module ``tools/benchmarks/<NAME>.py`` with ``add_arguments(parser)`` and
``run(args) -> list[dict]``; every dict is one measured case with its figures and the ``ratio``
it is judged by. ``--json`` prints one JSON object per case, otherwise a table.

Example:
    $ python tools/benchmark.py cider --json
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent / "benchmarks"


def available() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = available()
    if not argv or argv[0] not in names:
        print(f"usage: benchmark.py NAME [--json] [options]; NAME is one of: {', '.join(names)}",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(BENCH_DIR.parent))
    module = importlib.import_module(f"benchmarks.{argv[0]}")
    parser = argparse.ArgumentParser(prog=f"benchmark.py {argv[0]}", description=module.__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    cases = module.run(args)
    for case in cases:
        if args.json:
            print(json.dumps(case), flush=True)
        else:
            print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in case.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
