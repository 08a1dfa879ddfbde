"""Training throughput: SA-LSTM cross-entropy steps on MSR-VTT-sized inputs, in captions per second.

Data: ``--videos`` training videos (default 6,513, MSR-VTT's training split) × 20 references (MSR-VTT's
own when ../shared/assets has them), random 28 × 2048 features (ResNet-152-sized), cached in
``--cache``. The model is ``configs/sa_lstm_msrvtt.yaml``'s SA-LSTM. Measured: ``--steps`` optimiser
steps of ``--batch-size`` captions after ``--warmup`` steps, through the real trainer (data loading,
forward, backward, AdamW, clipping). ``ratio`` is captions/s relative to ``--baseline`` captions/s
(default 1: the ratio is then the rate itself).

Example:
    $ python tools/benchmark.py train --json --steps 20
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from vidcap.data import Annotations
from vidcap.engine.config import load_config
from vidcap.engine.train import Trainer

from benchmarks._msrvtt import annotations, feature_store

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sa_lstm_msrvtt.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", type=int, default=6513)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vidcap-bench-msrvtt"))
    parser.add_argument("--baseline", type=float, default=1.0, help="captions/s the ratio is relative to")


def run(args: argparse.Namespace) -> list[dict]:
    args.cache.mkdir(parents=True, exist_ok=True)
    ann_path, source = annotations(args.cache, args.videos)
    ids = Annotations.load(ann_path).ids()
    store = feature_store(args.cache, ids)
    out = args.cache / f"run-{time.time_ns()}"
    cfg = load_config(CONFIG, [f"data.annotations={ann_path}", f"data.features={store}", f"out={out}",
                               f"train.batch_size={args.batch_size}", f"train.workers={args.workers}",
                               f"train.amp={args.amp}", f"device={args.device}", "train.log_every=1000000"])
    trainer = Trainer(cfg)
    trainer.sampler.set_epoch(0)
    batches = iter(trainer.loader)
    for batch in itertools.islice(batches, args.warmup):
        trainer._train_step(batch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    captions, start = 0, time.perf_counter()
    for batch in itertools.islice(batches, args.steps):
        trainer._train_step(batch)
        captions += len(batch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rate = captions / seconds
    return [{"case": "sa_lstm_xe", "device": str(trainer.device), "amp": str(trainer.amp), "videos": args.videos,
             "captions_per_epoch": len(trainer.data.train), "references": source, "batch_size": args.batch_size,
             "steps": args.steps, "step_ms": 1000 * seconds / args.steps, "captions_per_s": rate,
             "epoch_minutes": len(trainer.data.train) / rate / 60, "threads": torch.get_num_threads(),
             "ratio": rate / args.baseline}]
