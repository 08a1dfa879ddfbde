#!/usr/bin/env python
"""Regenerate README's published tables from vidcap/reproduce/published.py (the one table in code).

    $ python tools/published_tables.py            # rewrites README.md's generated blocks
    $ python tools/published_tables.py --check    # exit 1 if README.md differs from the data

tests/test_published.py runs the check; edit the rows in published.py, never the README blocks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidcap.files import write_atomic
from vidcap.reproduce.published import update_readme

README = Path(__file__).resolve().parents[1] / "README.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="only say whether the README is up to date")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    updated = update_readme(text)
    if args.check:
        if updated != text:
            print(f"{args.readme}: published tables differ from vidcap/reproduce/published.py; run "
                  "python tools/published_tables.py", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        write_atomic(args.readme, updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
