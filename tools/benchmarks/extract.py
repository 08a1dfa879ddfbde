"""Extraction throughput: the whole pipeline vs the backbone alone vs a naive per-video loop.

Generates MSR-VTT-shaped clips (320×240, ~15 s, 30 fps, mp4v via OpenCV) in a temporary folder, then
measures sampled frames/s of three ways to get features of ``--frames`` frames per clip:

- ``pipeline``: ``vidcap.features.extract`` (decoding workers + batched inference + writing the store);
- ``backbone``: the same backbone on the same frames already decoded and resized, same batch size and
  threads — the ceiling; the pipeline case's ``ratio`` is pipeline / backbone (target ≥ 0.95);
- ``naive``: decode every frame of a video, keep the sampled ones, one forward per video; its
  ``ratio`` is pipeline / naive (how much faster the pipeline is).

Motion (clip) backbones (``r2plus1d_18``, ``s3d`` …, vidcap/features/motion.py) are measured the same
way in windows/s (one window of ``--clip-len`` frames per sampled position): ``backbone`` runs the same
windows already decoded and gathered; ``naive`` decodes every frame and transforms every window's frames
on their own (overlapping windows transform their shared frames again), one forward per video.

Example:
    $ python tools/benchmark.py extract --json --videos 4 --seconds 3
    $ python tools/benchmark.py extract --json --backbone r2plus1d_18 --input-size 56 --clip-len 8 --videos 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcap.features import extract, get_backbone
from vidcap.features.backbone import backbone_options
from vidcap.features.extract import decode, default_batch_size, model_input
from vidcap.video import Sampling, probe, sample_indices


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, …")
    parser.add_argument("--dtype", default=None, choices=["fp32", "bf16", "fp16"],
                        help="autocast dtype (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--videos", type=int, default=20, help="number of generated clips")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each clip")
    parser.add_argument("--frames", type=int, default=28, help="frames sampled per clip")
    parser.add_argument("--input-size", type=int, default=None,
                        help="backbone input size (ResNet: default 224; motion backbones: default their weights' crop)")
    parser.add_argument("--clip-len", type=int, default=None,
                        help="frames per window of a motion backbone (default: the model's own)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="frames per forward pass (default: extract's own, 16 on CPU, 64 on GPU)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measure each way this many times and keep its best (timing noise only slows)")
    parser.add_argument("--workers", type=int, default=2)


def make_clips(folder: Path, count: int, seconds: float, fps: float = 30.0, size: tuple[int, int] = (320, 240)) -> list[Path]:
    """Write ``count`` moving-texture mp4v clips (OpenCV) and return their paths."""
    w, h = size
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        base = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (2 * w, 2 * h))
        path = folder / f"video{i}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for t in range(round(seconds * fps)):  # a pan across a smooth random texture
            x, y = (3 * t) % w, (2 * t) % h
            writer.write(base[y:y + h, x:x + w])
        writer.release()
        paths.append(path)
    return paths


def _backbone_alone(model, batches: list[torch.Tensor]) -> float:
    start = time.perf_counter()
    for batch in batches:
        model.run(batch)
    return time.perf_counter() - start


def _naive(model, paths: list[Path], sampling: Sampling) -> tuple[int, float]:
    frames_done, start = 0, time.perf_counter()
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        cap.release()
        info = probe(path)
        indices, _ = sample_indices(info, sampling)
        if model.windows is not None:  # each window on its own: shared frames transformed again
            indices = model.windows.indices(indices, 0, info.frame_count)
        picked = np.stack([cv2.cvtColor(frames[min(i, len(frames) - 1)], cv2.COLOR_BGR2RGB) for i in indices.ravel()])
        model.run(torch.from_numpy(model.transform(picked.reshape(*indices.shape, *picked.shape[1:]))))
        frames_done += len(indices)
    return frames_done, time.perf_counter() - start


def run(args: argparse.Namespace) -> list[dict]:
    options = {"dtype": args.dtype}
    known = backbone_options(args.backbone)
    if "input_size" in known:
        options["input_size"] = args.input_size or (None if "clip_len" in known else 224)
    if args.clip_len is not None:
        options["clip_len"] = args.clip_len
    sampling = Sampling(frames=args.frames)
    with tempfile.TemporaryDirectory(prefix="vidcap-bench-") as tmp:
        paths = make_clips(Path(tmp), args.videos, args.seconds)
        model = get_backbone(args.backbone, weights="none", device=args.device, **options)
        args.batch_size = args.batch_size or default_batch_size(model)
        # Frames decoded and resized up front, packed in the pipeline's fixed-size batches.
        frames = torch.cat([torch.from_numpy(model_input(model.transform, decode(p, sampling, model.windows)))
                            for p in paths])
        pad = -len(frames) % args.batch_size
        frames = torch.cat([frames, frames.new_zeros((pad, *frames.shape[1:]))])
        batches = list(frames.split(args.batch_size))
        n = len(frames) - pad
        _backbone_alone(model, batches[:1])  # warm-up: kernel selection, caches

        pipeline_fps = backbone_fps = naive_fps = 0.0
        for i in range(args.repeat):  # interleaved, so a slow spell of the machine hits every way alike
            report = extract(paths, Path(tmp) / f"store{i}", backbone=args.backbone, weights="none",
                             sampling=sampling, batch_size=args.batch_size, workers=args.workers,
                             device=args.device, progress=False, options=options)
            if report.failures or report.frames != n:
                raise RuntimeError(f"benchmark extraction incomplete: {report.summary()}")
            pipeline_fps = max(pipeline_fps, report.frames / report.seconds)
            backbone_fps = max(backbone_fps, n / _backbone_alone(model, batches))
            naive_frames, naive_s = _naive(model, paths, sampling)
            naive_fps = max(naive_fps, naive_frames / naive_s)
    common = {"backbone": args.backbone, "unit": "frames" if model.windows is None else
              f"windows of {model.windows.length} frames", "device": args.device, "dtype": model.dtype, "videos": args.videos,
              "frames_per_video": args.frames, "batch_size": args.batch_size, "workers": args.workers,
              "threads": torch.get_num_threads(), "repeat": args.repeat}
    return [
        {"case": "pipeline_vs_backbone", **common, "pipeline_fps": pipeline_fps, "backbone_fps": backbone_fps,
         "ratio": pipeline_fps / backbone_fps},
        {"case": "pipeline_vs_naive", **common, "pipeline_fps": pipeline_fps,
         "naive_fps": naive_fps, "ratio": pipeline_fps / naive_fps},
    ]
