"""One command reproduces a dataset's published table: ``python tools/reproduce.py msrvtt ...``.

:func:`reproduce` extracts the features once per store, trains every paper config over ``seeds``
seeds, captions and scores the test split with each, and writes ``OUT/results.md`` and
``OUT/results.json`` (mean ± std per run beside the published numbers with a like-for-like verdict, the
per-seed test captions,
the exact configs and commands, the feature specs, the software versions). Re-running it resumes; see
:mod:`vidcap.reproduce.runner` for the layout, :mod:`vidcap.reproduce.plan` for the configs and
:mod:`vidcap.reproduce.published` for the published numbers with their sources and protocols.

Example:
    >>> reproduce("msrvtt", video_dir="MSRVTT/videos", annotations=["train_val_videodatainfo.json",
    ...           "test_videodatainfo.json"], out="repro", seeds=5, configs_dir="configs")  # doctest: +SKIP
    PosixPath('repro/results.md')
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from vidcap.reproduce.plan import DATASETS, DEFAULT_SEEDS, PUBLISHED
from vidcap.reproduce.report import write_report
from vidcap.reproduce.runner import Runner

__all__ = ["DATASETS", "DEFAULT_SEEDS", "PUBLISHED", "Runner", "reproduce"]


def reproduce(dataset: str, *, video_dir: str | os.PathLike[str], annotations: Sequence[str | os.PathLike[str]],
              out: str | os.PathLike[str], configs_dir: str | os.PathLike[str], seeds: int = DEFAULT_SEEDS,
              smoke: bool = False,
              device: str | None = None, workers: int = 2, say: Callable[[str], None] = print) -> Path:
    """Run (or resume) the reproduction and write its results; returns the path of ``results.md``."""
    runner = Runner(dataset, video_dir=video_dir, annotations=annotations, out=out, seeds=seeds,
                    configs_dir=configs_dir, smoke=smoke, device=device, workers=workers, say=say)
    runner.run()
    _, md = write_report(runner)
    say(f"wrote {md} and {md.with_suffix('.json')}")
    return md
