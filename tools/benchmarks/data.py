"""Training data pipeline: padding saved by length bucketing, loader throughput with workers.

- ``padding``: reference captions of the MSR-VTT training split (``--references FOLDER``; made-up lengths of a
  similar spread when absent), encoded as for training, one epoch of ``--batch-size`` batches over every
  (video, reference) pair. Padded caption positions of plain shuffled batches vs length-bucketed ones
  (:class:`vidcap.data.BucketBatchSampler`); ``ratio`` = shuffled / bucketed padding (higher is better).
- ``loader``: a generated store of ``--videos`` entries shaped like ResNet-152 features (``--frames`` ×
  2048, float16, 20 references each) read through :class:`CaptionDataset` (normalised, with temporal
  differences) and ``DataLoader`` for one epoch of every (video, reference) pair; items/s with
  ``--workers`` workers vs reading in the main process; ``ratio`` = workers / main process.
- ``cache``: the same store and epoch in the main process, with the feature cache (``data.cache_mb``,
  large enough for the store) vs without; ``ratio`` = cached / uncached items/s.
- ``whiten_fit``: :meth:`FeatureNormalizer.fit` with PCA whitening (``--whiten`` components) on
  ``--fit-videos`` videos of 8 frames × 2,080 values (the demo's bilinear stream), rows folded into the
  statistics in blocks (as vidcap does) vs one video at a time; ``ratio`` = per-video / blocked seconds.

Example:
    $ python tools/benchmark.py data --json --videos 200 --workers 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vidcap.data import (Annotations, BucketBatchSampler, CaptionDataset, FeatureNormalizer, VideoRecord,
                         build_vocabulary, collate, tokenize)
from vidcap.data.normalize import _Moments
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter

from benchmarks._msrvtt import add_references_argument, training_references



def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_references_argument(parser)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=20, help="caption words kept")
    parser.add_argument("--videos", type=int, default=200, help="videos in the generated store (loader case)")
    parser.add_argument("--frames", type=int, default=28, help="frames per generated video")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit-videos", type=int, default=1344, help="videos for the whiten_fit case")
    parser.add_argument("--whiten", type=int, default=256, help="whitened components (whiten_fit case)")


def _caption_lengths(max_len: int, seed: int, references: Path | None) -> tuple[np.ndarray, str]:
    """Encoded caption lengths (words + BOS/EOS) of MSR-VTT's training references (``--references``)."""
    real = training_references(references)
    if real is not None:
        ann = Annotations.load(real)
        caps = [c for refs in ann.references(ann.ids("train")).values() for c in refs]
        return np.array([min(len(tokenize(c)), max_len) + 2 for c in caps]), "msrvtt-train"
    rng = np.random.default_rng(seed)  # MSR-VTT-like: mean ~9 words, long tail
    return np.clip(rng.gamma(4.0, 2.3, 130_260).astype(int) + 1, 1, max_len) + 2, "synthetic"


def _padding(sampler: BucketBatchSampler, lengths: np.ndarray) -> tuple[int, int]:
    padded = total = 0
    for batch in sampler:
        b = lengths[batch]
        padded += int(b.max() * len(b) - b.sum())
        total += int(b.max() * len(b))
    return padded, total


def _padding_case(args: argparse.Namespace) -> dict:
    lengths, source = _caption_lengths(args.max_len, args.seed, args.references)
    bucketed = _padding(BucketBatchSampler(lengths, args.batch_size, seed=args.seed), lengths)
    shuffled = _padding(BucketBatchSampler(lengths, args.batch_size, seed=args.seed, bucket=1), lengths)
    return {"case": "padding", "source": source, "items": len(lengths), "batch_size": args.batch_size,
            "padded_fraction_shuffled": shuffled[0] / shuffled[1],
            "padded_fraction_bucketed": bucketed[0] / bucketed[1],
            "ratio": shuffled[0] / max(bucketed[0], 1)}


def _items_per_s(ds: CaptionDataset, batch_size: int, workers: int, seed: int) -> float:
    """Items per second of one epoch over every (video, reference) pair."""
    sampler = ds.batch_sampler(batch_size, references="all", seed=seed)  # 20 items per video
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=workers)
    start, n = time.perf_counter(), 0
    for batch in loader:
        n += len(batch)
    return n / (time.perf_counter() - start)


def _loader_cases(args: argparse.Namespace) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    ids = [f"video{i}" for i in range(args.videos)]
    words = "a man woman dog is playing cooking running in the park kitchen car".split()
    ann = Annotations({v: VideoRecord(v, "train") for v in ids},
                      {v: [" ".join(rng.choice(words, rng.integers(4, 14))) for _ in range(20)] for v in ids})
    with tempfile.TemporaryDirectory(prefix="vidcap-bench-") as tmp:
        writer = StoreWriter(tmp, FeatureSpec.external("resnet152", {"frame": "float16"}, frames=args.frames),
                             {"frame": [2048]})
        for v in ids:
            writer.write(v, {"frame": rng.standard_normal((args.frames, 2048), np.float32)},
                         indices=np.arange(args.frames), timestamps=np.arange(args.frames) / 2.0, info={})
        ds = CaptionDataset(tmp, ann, build_vocabulary(ann), max_len=args.max_len)
        start = time.perf_counter()
        ds.normalizer = FeatureNormalizer.fit(ds.features(), deltas=True)
        fit_s = time.perf_counter() - start
        _items_per_s(ds, args.batch_size, 0, args.seed)  # warm the page cache: both runs read from memory
        inline = _items_per_s(ds, args.batch_size, 0, args.seed)
        parallel = _items_per_s(ds, args.batch_size, args.workers, args.seed)
        cached_ds = CaptionDataset(tmp, ann, build_vocabulary(ann), max_len=args.max_len, cache_bytes=2**40)
        cached_ds.normalizer = ds.normalizer
        cached = _items_per_s(cached_ds, args.batch_size, 0, args.seed)  # each video read once, then served
    common = {"videos": args.videos, "frames": args.frames, "dim": 2048, "deltas": True, "batch_size": args.batch_size}
    return [{"case": "loader", **common, "workers": args.workers, "normalizer_fit_s": fit_s,
             "inline_items_per_s": inline, "workers_items_per_s": parallel, "ratio": parallel / inline},
            {"case": "cache", **common, "uncached_items_per_s": inline, "cached_items_per_s": cached,
             "ratio": cached / inline}]


def _whiten_fit_case(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    mixing = rng.standard_normal((64, 2080)).astype(np.float32)  # correlated, like a bilinear pool
    videos = [{"bilinear": rng.standard_normal((8, 64), np.float32) @ mixing
               + 0.1 * rng.standard_normal((8, 2080), np.float32)} for _ in range(args.fit_videos)]

    def seconds(block_rows: int) -> float:
        saved = _Moments.BLOCK_ROWS
        _Moments.BLOCK_ROWS = block_rows
        try:
            start = time.perf_counter()
            FeatureNormalizer.fit(((v, {}) for v in videos), whiten=args.whiten)
            return time.perf_counter() - start
        finally:
            _Moments.BLOCK_ROWS = saved

    blocked, per_video = seconds(_Moments.BLOCK_ROWS), seconds(1)
    return {"case": "whiten_fit", "videos": args.fit_videos, "frames": 8, "dim": 2080, "whiten": args.whiten,
            "block_rows": _Moments.BLOCK_ROWS, "blocked_s": blocked, "per_video_s": per_video,
            "ratio": per_video / blocked}


def run(args: argparse.Namespace) -> list[dict]:
    return [_padding_case(args), *_loader_cases(args), _whiten_fit_case(args)]
