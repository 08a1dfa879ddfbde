"""Training throughput on MSR-VTT-sized inputs, in captions per second.

Data: ``--videos`` training videos (default 6,513, MSR-VTT's training split) × 20 references (MSR-VTT's
own with ``--references FOLDER``), random 28 × 2048 features (ResNet-152-sized), cached in ``--cache``;
models as ``benchmarks/_msrvtt.py`` pins them (SA-LSTM with a recurrent encoder, hidden 512, embed 512,
attention 256, dropout 0.5, vocabulary 13,615 words), batch ``--batch-size``, CPU unless ``--device``. Cases (``--cases``):

- ``trainer`` (case ``sa_lstm_xe``): ``--steps`` optimiser steps after ``--warmup`` through the real
  trainer, data loading included (the loader as ``vidcap train`` builds it, at the start of epoch 1).
  ``ratio`` is captions/s relative to ``--baseline`` (default 1: the rate itself).
- ``minimal`` (one case per ``--models``): the trainer's step (:meth:`Trainer.train_step`: objective,
  AdamW, clipping) vs a plain loop over the same model written for this benchmark
  (``benchmarks/_minimal.py``: the same parameters, vidcap's initial weights copied in, ``nn.LSTMCell``
  for attention decoders), on the same in-memory batches, alternating the two ``--rounds`` times;
  ``ratio`` = vidcap captions/s / minimal captions/s (best round of each). ``max_loss_diff`` is the
  difference of the two losses on the first batch with dropout off (the check that both compute the
  same model); ``cpu_ratio`` the same comparison in CPU seconds per step (steadier on a shared machine).
- ``loading``: data loading's share of training time, epoch 1 (cold feature cache) and epoch 2
  separately, ``--loading-videos`` videos with all their references per epoch, ``--workers`` workers:
  the trainer's step fed by a plain ``DataLoader`` (each worker its own cache, refilled every epoch:
  what ``vidcap train`` did before) and by :class:`vidcap.data.loader.CachedLoader` (what it does now),
  each step followed by the same batch's step from memory. Per loader and epoch: ``overhead`` = fed time
  / in-memory time - 1, ``wait_s`` the seconds the step waited for batches, ``worker_cpu_s`` the CPU
  seconds of its worker processes, ``step_s`` the in-memory steps' seconds; ``epochN_reads`` the videos
  CachedLoader's workers read. ``ratio`` = CachedLoader's larger overhead (lower is better).

Example:
    $ python tools/benchmark.py train --json --cases minimal --models sa-lstm
"""
from __future__ import annotations

import argparse
import itertools
import pickle
import resource
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from vidcap.data import PAD, Annotations, collate
from vidcap.data.loader import CachedLoader
from vidcap.training.trainer import Trainer

from benchmarks._minimal import MINIMAL, load_from
from benchmarks._msrvtt import add_references_argument, annotations, feature_store, training_config

CASES = ("trainer", "minimal", "loading")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_references_argument(parser)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=["trainer", "minimal"])
    parser.add_argument("--videos", type=int, default=6513)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vidcap-bench-msrvtt"))
    parser.add_argument("--baseline", type=float, default=1.0, help="captions/s the trainer ratio is relative to")
    parser.add_argument("--models", nargs="+", default=sorted(MINIMAL), choices=sorted(MINIMAL),
                        help="models of the minimal case")
    parser.add_argument("--rounds", type=int, default=2, help="alternating vidcap/minimal rounds")
    parser.add_argument("--loading-videos", type=int, default=200, help="videos of the loading case's epochs")


def _trainer(args: argparse.Namespace, videos: int, overrides: list[str], model: str = "sa-lstm"
             ) -> tuple[Trainer, str]:
    """A trainer on the benchmark data, ``model`` as ``benchmarks._msrvtt.MODEL`` pins it."""
    args.cache.mkdir(parents=True, exist_ok=True)
    ann_path, source = annotations(args.cache, videos, references=args.references)
    store = feature_store(args.cache, Annotations.load(ann_path).ids())
    cfg = training_config(ann_path, store, args.cache / f"run-{time.time_ns()}", model, (
        f"train.batch_size={args.batch_size}", f"train.workers={args.workers}", f"train.amp={args.amp}",
        f"device={args.device}", *overrides))
    trainer = Trainer(cfg)
    trainer.sampler.set_epoch(0)
    return trainer, source


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _rate(step: Callable, batches: list, device: torch.device) -> float:
    """Captions per second of ``step`` over ``batches``."""
    _sync(device)
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    _sync(device)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def _trainer_case(args: argparse.Namespace) -> dict:
    trainer, source = _trainer(args, args.videos, [])
    batches = iter(trainer.loader)
    for batch in itertools.islice(batches, args.warmup):
        trainer.train_step(batch)
    _sync(trainer.device)
    captions, start = 0, time.perf_counter()
    for batch in itertools.islice(batches, args.steps):
        trainer.train_step(batch)
        captions += len(batch)
    _sync(trainer.device)
    seconds = time.perf_counter() - start
    rate = captions / seconds
    return {"case": "sa_lstm_xe", "device": str(trainer.device), "amp": str(trainer.amp), "videos": args.videos,
            "captions_per_epoch": len(trainer.data.train), "references": source, "batch_size": args.batch_size,
            "workers": args.workers, "steps": args.steps, "step_ms": 1000 * seconds / args.steps,
            "captions_per_s": rate, "epoch_minutes": len(trainer.data.train) / rate / 60,
            "threads": torch.get_num_threads(), "ratio": rate / args.baseline}


def _in_memory(dataset, sampler, count: int | None = None) -> list:
    """Batches of the sampler's current epoch, collated from a copy of ``dataset`` (its own empty cache)."""
    copy = pickle.loads(pickle.dumps(dataset))
    return [collate([copy[i] for i in idx]) for idx in itertools.islice(sampler, count)]


def _minimal_step(model: torch.nn.Module, trainer: Trainer) -> Callable:
    """The plain training step: forward, summed token cross-entropy / tokens, backward, clipping, AdamW."""
    cfg = trainer.cfg.train
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stream = trainer.data.train.streams[0].name

    def step(batch) -> float:
        batch = batch.to(trainer.device, non_blocking=True)
        logits = model(batch.feats[stream], batch.captions)
        target = batch.captions[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), target.reshape(-1), ignore_index=PAD,
                               reduction="sum") / (target != PAD).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        return float(loss.detach())

    return step


def _minimal_case(args: argparse.Namespace, name: str) -> dict:
    trainer, source = _trainer(args, args.videos, ["data.normalize=false", "train.workers=0"], name)
    model = trainer.model
    batches = _in_memory(trainer.data.train, trainer.sampler, args.warmup + args.steps)
    if not all(bool(m.all()) for b in batches for m in b.masks.values()):
        raise SystemExit("the minimal models need every frame valid")
    minimal = MINIMAL[name](vocab=model.vocab_size, feat=sum(trainer.data.input_dims.values()),
                            embed=model.embed_size, hidden=model.hidden_size,
                            attention=trainer.cfg.model.attention_size,
                            dropout=model.dropout_p).to(trainer.device)
    load_from(minimal, name, model)
    n_params = [sum(p.numel() for p in m.parameters()) for m in (model, minimal)]
    with torch.no_grad():  # dropout off: the same weights must give the same loss
        model.eval(), minimal.eval()
        check = batches[0].to(trainer.device)
        loss_sum, count = trainer.objective(check)
        minimal_loss = F.cross_entropy(minimal(check.feats[trainer.data.train.streams[0].name], check.captions
                                               ).flatten(0, 1).float(), check.captions[:, 1:].flatten(),
                                       ignore_index=PAD, reduction="sum")
        loss_diff = abs(float(loss_sum) - float(minimal_loss)) / float(count)
        model.train(), minimal.train()
    steps = {"vidcap": trainer.train_step, "minimal": _minimal_step(minimal, trainer)}
    rates: dict[str, list[float]] = {"vidcap": [], "minimal": []}
    cpu: dict[str, list[float]] = {"vidcap": [], "minimal": []}  # CPU seconds per step: steadier when shared
    for r in range(args.rounds):
        for side in (("vidcap", "minimal") if r % 2 == 0 else ("minimal", "vidcap")):
            _rate(steps[side], batches[:args.warmup], trainer.device)
            start = time.process_time()
            rates[side].append(_rate(steps[side], batches[args.warmup:], trainer.device))
            cpu[side].append((time.process_time() - start) / args.steps)
    best = {k: max(v) for k, v in rates.items()}
    return {"case": f"minimal_{name}", "device": str(trainer.device), "references": source,
            "batch_size": args.batch_size, "steps": args.steps, "rounds": args.rounds,
            "parameters": n_params[0], "same_parameter_count": n_params[0] == n_params[1],
            "max_loss_diff": loss_diff, "vidcap_captions_per_s": [round(x, 2) for x in rates["vidcap"]],
            "minimal_captions_per_s": [round(x, 2) for x in rates["minimal"]],
            "vidcap_cpu_s_per_step": [round(x, 3) for x in cpu["vidcap"]],
            "minimal_cpu_s_per_step": [round(x, 3) for x in cpu["minimal"]],
            "cpu_ratio": min(cpu["minimal"]) / min(cpu["vidcap"]),
            "threads": torch.get_num_threads(), "ratio": best["vidcap"] / best["minimal"]}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _interleaved(step: Callable, loader, memory: list, device: torch.device) -> dict[str, float]:
    """One epoch of ``loader``, each of its steps followed by the same batch's step from ``memory``, so that
    drift in the machine's speed hits both alike. Returns the overhead (fed time / in-memory time - 1), the
    seconds the step waited for the loader and the CPU seconds its worker processes used."""
    fed = in_memory = waited = 0.0
    cpu = _children_cpu()
    batches = iter(loader)
    for ready in memory:
        start = time.perf_counter()
        batch = next(batches)
        got = time.perf_counter()
        step(batch)
        _sync(device)
        done = time.perf_counter()
        step(ready)
        _sync(device)
        fed, waited, in_memory = fed + done - start, waited + got - start, in_memory + time.perf_counter() - done
    if next(batches, None) is not None:  # also ends the epoch: workers exit and their CPU time is counted
        raise SystemExit("the loader gave more batches than the sampler")
    del batches
    return {"overhead": round(fed / in_memory - 1, 4), "wait_s": round(waited, 3),
            "worker_cpu_s": round(_children_cpu() - cpu, 3), "step_s": round(in_memory, 2)}


def _loading_case(args: argparse.Namespace) -> dict:
    trainer, source = _trainer(args, args.loading_videos, [])
    sampler, step = trainer.sampler, trainer.train_step
    # Each loader reads through its own copy of the dataset, so each starts with a cold cache.
    loaders = {"dataloader": torch.utils.data.DataLoader(  # what vidcap train used before CachedLoader
                   pickle.loads(pickle.dumps(trainer.data.train)), batch_sampler=sampler, collate_fn=collate,
                   num_workers=args.workers, persistent_workers=False),
               "vidcap": CachedLoader(pickle.loads(pickle.dumps(trainer.data.train)), sampler, workers=args.workers)}
    figures: dict[str, float] = {}
    for epoch in (1, 2):
        sampler.set_epoch(epoch - 1)
        memory = _in_memory(trainer.data.train, sampler)
        if epoch == 1:  # the first steps set up the optimiser state and oneDNN's kernels: not loading's cost
            _rate(step, memory[:args.warmup], trainer.device)
        for kind, loader in loaders.items():
            for key, value in _interleaved(step, loader, memory, trainer.device).items():
                figures[f"epoch{epoch}_{kind}_{key}"] = value
        figures[f"epoch{epoch}_reads"] = loaders["vidcap"].last_epoch_reads
    return {"case": "loading", "device": str(trainer.device), "references": source, "videos": args.loading_videos,
            "captions_per_epoch": len(trainer.data.train), "batch_size": args.batch_size, "workers": args.workers,
            "cache_mb": trainer.cfg.data.cache_mb, **figures, "threads": torch.get_num_threads(),
            "ratio": max(figures["epoch1_vidcap_overhead"], figures["epoch2_vidcap_overhead"])}


def run(args: argparse.Namespace) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = []
    if "trainer" in args.cases:
        cases.append(_trainer_case(args))
    if "minimal" in args.cases:
        cases.extend(_minimal_case(args, name) for name in args.models)
    if "loading" in args.cases:
        cases.append(_loading_case(args))
    return cases
