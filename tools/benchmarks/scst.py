"""Self-critical training step time on MSR-VTT-sized inputs, split into sampling, reward and backward.

Data and model as in the ``train`` benchmark (random 28 × 2048 features, MSR-VTT's own training references
with ``--references FOLDER``, the SA-LSTM ``benchmarks/_msrvtt.py`` pins). One SCST step = sample ``--samples`` captions per video for a batch of
``--batch-size`` videos (batched), score them with in-process CIDEr-D against the training references
(plus the baseline), backward and AdamW. Figures: seconds per step and the shares of sampling, reward
(with ``--baseline greedy`` it includes decoding the greedy captions, also timed alone as
``greedy_decode_s``) and backward + update. ``ratio`` = share of the step spent computing rewards (lower
is better: the reward must not dominate training). ``--step fused`` runs every single decoding step
through ``nn.LSTM`` as vidcap did before :mod:`vidcap.models.rnn` took the cell functions for them (the
"before" of that change, on the same model and data).

Example:
    $ python tools/benchmark.py scst --json --steps 5
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from vidcap.data import Annotations
from vidcap.models import greedy
from vidcap.models.rnn import Recurrent
from vidcap.training.scst import SelfCritical
from vidcap.training.trainer import Trainer

from benchmarks._msrvtt import add_references_argument, annotations, feature_store, training_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", type=int, default=6513)
    parser.add_argument("--batch-size", type=int, default=64, help="videos per step")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--baseline", default="mean", choices=["mean", "greedy"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vidcap-bench-msrvtt"))
    parser.add_argument("--step", default="cell", choices=["cell", "fused"],
                        help="single decoding steps through the cell functions (vidcap) or nn.LSTM (before)")
    add_references_argument(parser)


def _fused(self: Recurrent, x: torch.Tensor, state: dict[str, torch.Tensor]):
    """``Recurrent.forward`` through ``nn.LSTM``/``nn.GRU`` whatever the length of ``x``: for length 1,
    what vidcap did before the cell-function step (the ``--step fused`` counterfactual)."""
    out, hs = self.rnn(x, self._to_torch(state))
    return out, self._from_torch(hs)


def _timed(objective: SelfCritical) -> dict[str, float]:
    """Seconds ``objective`` spends sampling and scoring rewards (with the baseline), accumulated from now
    on, measured around its own calls: ``loss`` is the reward part, the rest of ``forward`` sampling."""
    timings = {"sample": 0.0, "reward": 0.0}
    forward, loss = objective.forward, objective.loss

    def timed_loss(batch, out):
        start = time.perf_counter()
        try:
            return loss(batch, out)
        finally:
            timings["reward"] += time.perf_counter() - start

    def timed_forward(batch):
        start, reward = time.perf_counter(), timings["reward"]
        try:
            return forward(batch)
        finally:
            timings["sample"] += time.perf_counter() - start - (timings["reward"] - reward)

    objective.loss, objective.forward = timed_loss, timed_forward  # this instance only
    return timings


def run(args: argparse.Namespace) -> list[dict]:
    if args.step == "fused":
        Recurrent.forward = _fused  # this process only: the benchmark's counterfactual
    args.cache.mkdir(parents=True, exist_ok=True)
    ann_path, source = annotations(args.cache, args.videos, references=args.references)
    store = feature_store(args.cache, Annotations.load(ann_path).ids())
    cfg = training_config(ann_path, store, args.cache / f"scst-{time.time_ns()}", "sa-lstm", (
        "train.scst=true", f"train.scst_samples={args.samples}", f"train.scst_baseline={args.baseline}",
        "data.references=sample", f"train.batch_size={args.batch_size}", f"device={args.device}", "train.workers=0"))
    trainer = Trainer(cfg)  # random initial weights: the step's cost does not depend on them
    trainer.sampler.set_epoch(0)
    batches = list(itertools.islice(iter(trainer.loader), args.steps + 1))
    trainer.train_step(batches[0])  # warm-up
    timings = _timed(trainer.objective)
    start = time.perf_counter()
    for batch in batches[1:]:
        trainer.train_step(batch)
    total = (time.perf_counter() - start) / args.steps
    sample_s, reward_s = (timings[k] / args.steps for k in ("sample", "reward"))
    update_s = total - sample_s - reward_s
    extra = {}
    if args.baseline == "greedy":  # the reward time includes decoding the greedy captions: how much of it
        start = time.perf_counter()
        for batch in batches[1:]:
            greedy(trainer.model.eval(), batch.feats, batch.masks, max_len=cfg.train.scst_max_len)
        trainer.model.train()
        extra["greedy_decode_s"] = (time.perf_counter() - start) / args.steps
    return [{"case": f"scst_{args.baseline}", "step": args.step, "device": str(trainer.device), "references": source,
             "videos_per_step": args.batch_size, "samples": args.samples, "step_s": total, "sample_s": sample_s,
             "reward_s": reward_s, "backward_and_update_s": update_s, **extra,
             "sample_share": sample_s / total, "reward_share": reward_s / total, "update_share": update_s / total,
             "threads": torch.get_num_threads(), "ratio": reward_s / total}]
