"""The training loop behind ``vidcap train``: one process or many (torchrun), CPU or GPU.

Per epoch: batches from the length-bucketing sampler (``train.batch_size`` is the global batch, split
across processes), AdamW (or SGD with momentum: ``train.optimizer``) with linear warm-up and cosine decay
(or a constant rate, or step decay: ``train.schedule``), gradient clipping (global norm or per value:
``train.grad_clip_mode``), mixed precision on GPU unless ``train.amp=fp32`` (or ``off``); then validation (beam search
on the validation split, decoded
in parallel across processes, CIDEr-D and BLEU-4; and the validation references' cross-entropy under
teacher forcing, ``loss``),
``last.pt`` every epoch, ``best.pt`` when ``train.monitor`` improves, one record
per epoch in ``metrics.json``, early stopping after ``train.early_stop`` epochs without improvement.
The epoch log line prints the validation metrics ×100, as tables do; ``metrics.json`` and the returned
summary keep pycocoevalcap's raw values (:mod:`vidcap.metrics.display`).
With ``train.ema`` the run also keeps an exponential moving average of the weights (updated after every
optimiser step); validation, model selection and the checkpoints' model use the averaged weights.

Resuming (``--resume``) restores the model, optimiser, step, best score, history and every process's
random state from ``last.pt``; the batch order is a function of (seed, epoch), so a resumed run on CPU
ends exactly where an uninterrupted one does. Checkpoints and metrics are written atomically by rank 0.

A run stops with an error naming the epoch, step and batch when the learning rate or the loss stops being
finite (checked before the update) or, before checkpoints are written, any weight does: the checkpoints of
the last good epoch stay as they were.

Example:
    >>> cfg = load_config("configs/demo.yaml", ["data.features=feats/", "out=runs/demo"])   # doctest: +SKIP
    >>> summary = train(cfg)                                                              # doctest: +SKIP
    >>> summary["best"]["CIDEr"] > 0                                                      # doctest: +SKIP
    True
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from vidcap import precision
from vidcap.checks import finite_problem
from vidcap.data.loader import CachedLoader
from vidcap.device import resolve_device
from vidcap.distributed import (DistContext, all_gather_objects, all_reduce_sum, barrier,
                                close_distributed, init_distributed)
from vidcap.errors import InputError, UsageError, listing
from vidcap.files import write_json
from vidcap.inference.generate import (MONITORS, batches_in_order, generate_captions, reference_scorer,
                                       validation_scores)
from vidcap.metrics.display import format_scores
from vidcap.progress import bar as progress_bar
from vidcap.trained.checkpoint import load_checkpoint, save_checkpoint
from vidcap.trained.folder import check_state
from vidcap.trained.model import EvalSettings, TrainedModel
from vidcap.training.objectives import CrossEntropy
from vidcap.training.optim import CLIPPERS, OPTIMIZERS, lr_factor
from vidcap.training.resume import check_resume_config
from vidcap.training.rundata import RunData, build_data, build_model
from vidcap.training.scst import SelfCritical

__all__ = ["train"]

log = logging.getLogger(__name__)



def _amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """train.amp's autocast dtype on ``device``; fp16 trains with a loss scaler, which this loop runs on CUDA only."""
    dtype = precision.resolve(setting, device, key="train.amp")
    if dtype == torch.float16 and device.type != "cuda":
        raise UsageError("train.amp=fp16 needs a CUDA device; use train.amp=bf16 or fp32 on this device")
    return dtype


class Trainer:
    """One training run; :func:`train` is the entry point."""

    def __init__(self, cfg: DictConfig, *, resume: bool = False):
        self.cfg, self.out = cfg, Path(cfg.out)
        self._setup_processes()
        resume_from = self._resume_checkpoint(resume)
        # the model a run continues from (last.pt) or starts from (train.init), read as any checkpoint is
        start = (TrainedModel.from_payload(resume_from, self.out / "last.pt") if resume_from else
                 TrainedModel.from_checkpoint(cfg.train.init) if cfg.train.init else None)
        self._build_data_and_model(start)
        self._build_step()
        self._build_optimiser()
        self._build_loader()
        self._start(resume_from)

    # ------------------------------------------------------------------- set-up, in this order
    def _setup_processes(self) -> None:
        """Device, process group, precision, and the config as plain data (what checkpoints record)."""
        cfg = self.cfg
        self.device = resolve_device(None if cfg.device == "auto" else cfg.device)
        self.ctx: DistContext = init_distributed(self.device.type)
        self.amp = _amp_dtype(cfg.train.amp, self.device)
        self.minimise = not MONITORS[cfg.train.monitor]
        self.plain_cfg: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        # the run's decoding settings, as its checkpoints' models carry them (validation decodes with them)
        self.eval_settings = EvalSettings.from_dict(self.plain_cfg["eval"], "config eval section")

    def _build_data_and_model(self, source: TrainedModel | None) -> None:
        """Datasets and model; from ``source`` (the resumed or train.init checkpoint's model) their
        vocabulary, normaliser and weights."""
        cfg = self.cfg
        self.data: RunData = build_data(cfg, trained=source)
        torch.manual_seed(cfg.train.seed)  # the same initial weights in every process and every resumption
        self.model = build_model(cfg, vocab_size=len(self.data.vocab), input_dims=self.data.input_dims)
        if source:
            self._load_model_state(source.model.state_dict(), source.source)
        self.model.to(self.device)

    def _build_step(self) -> None:
        """The objective, wrapped for DDP and torch.compile as configured: what a training step calls."""
        self.objective = self._objective()
        self.step_fn: torch.nn.Module = self.objective
        if self.ctx.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_fn = torch.nn.parallel.DistributedDataParallel(self.objective, device_ids=ids)
        if self.cfg.train.compile:
            self.step_fn = torch.compile(self.step_fn)

    def _build_optimiser(self) -> None:
        t = self.cfg.train
        self.optimizer = OPTIMIZERS[t.optimizer](self.model.parameters(), t)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        # Averaged weights (Polyak/EMA): late-epoch weights swing from batch to batch, the average less so.
        self.ema: AveragedModel | None = None
        if t.ema:
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(t.ema), use_buffers=True)

    def _build_loader(self) -> None:
        """This process's share of the training batches, and the validation references' CIDEr-D scorer."""
        cfg = self.cfg
        self.sampler = self.data.train.batch_sampler(cfg.train.batch_size, references=cfg.data.references,
                                                     seed=cfg.train.seed, num_replicas=self.ctx.world_size,
                                                     rank=self.ctx.rank)
        # Batches come from the main process's feature cache; workers only read what it lacks (see there).
        self.loader = CachedLoader(self.data.train, self.sampler, workers=cfg.train.workers,
                                   pin_memory=self.device.type == "cuda")
        self.total_steps = cfg.train.epochs * len(self.sampler)
        self.cider = reference_scorer(self.data.val.references or {})

    def _start(self, resume_from: dict[str, Any] | None) -> None:
        """Epoch, step, best score, history and random state: a fresh run's, or the resumed run's."""
        worst = math.inf if self.minimise else -math.inf
        self.epoch, self.step, self.best, self.best_epoch, self.history = 0, 0, worst, -1, []
        if resume_from:
            self._restore_training_state(resume_from)
        else:  # each process its own dropout/sampling stream from here on
            torch.manual_seed(self.cfg.train.seed + 1 + self.ctx.rank)

    def _objective(self) -> CrossEntropy | SelfCritical:
        t = self.cfg.train
        if not t.scst:
            return CrossEntropy(self.model, label_smoothing=t.label_smoothing)
        if not t.init and not (self.out / "last.pt").exists():
            log.warning("train.scst=true without train.init: self-critical training from random weights "
                        "rarely learns; start from a cross-entropy checkpoint")
        refs = self.data.annotations.references(self.data.train.video_ids)
        return SelfCritical(self.model, self.data.vocab, refs, samples=t.scst_samples, baseline=t.scst_baseline,
                            temperature=t.scst_temperature, max_len=t.scst_max_len, bleu_weight=t.scst_bleu_weight,
                            eos_word=t.scst_eos_word)

    # ------------------------------------------------------------------------------ checkpoints
    def _resume_checkpoint(self, resume: bool) -> dict[str, Any] | None:
        last = self.out / "last.pt"
        if not resume:
            existing = [p for p in (last, self.out / "best.pt", self.out / "metrics.json") if p.exists()]
            if existing:
                raise UsageError(f"out={self.out} already holds a run ({existing[0]}); pass --resume to continue "
                                 "it, or choose another out= folder (nothing there is overwritten)")
            return None
        if not last.exists():
            raise InputError(f"--resume: {last} does not exist (nothing to resume in out={self.out})")
        ckpt = load_checkpoint(last)
        check_resume_config(ckpt["config"], self.plain_cfg, last)
        return ckpt

    def _load_model_state(self, state: Any, where: str) -> None:
        """Weights from a checkpoint into the configured model, checked as any model file's are
        (:func:`~vidcap.trained.folder.check_state`): the configured model may differ from the
        checkpoint's (a new dropout, say), but must have the very tensors it holds."""
        check_state(self.model.state_dict(), state, where, f"the configured {self.cfg.model.name} model")
        self.model.load_state_dict(state)

    def _restore_training_state(self, ckpt: dict[str, Any]) -> None:
        state = ckpt["training"]
        if self.ema is not None:
            # "model" holds the averaged weights: loaded into self.model in __init__, they were copied into
            # self.ema when it was built. "weights" are the ones being optimised.
            if not isinstance(state.get("weights"), dict) or not isinstance(state.get("ema_updates"), int):
                raise InputError(f"{self.out / 'last.pt'}: train.ema is on but the checkpoint lacks the "
                                 "optimised weights or the average's update count")
            self._load_model_state(state["weights"], f"checkpoint {self.out / 'last.pt'}: training.weights")
            self.ema.n_averaged.fill_(state["ema_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best, self.best_epoch, self.history = state["best"], state["best_epoch"], list(state["history"])
        rng = state["rng"]
        if len(rng) == self.ctx.world_size:
            torch.set_rng_state(rng[self.ctx.rank]["cpu"])
            if self.device.type == "cuda" and rng[self.ctx.rank].get("cuda") is not None:
                torch.cuda.set_rng_state(rng[self.ctx.rank]["cuda"], self.device)
        else:
            log.warning("resuming with %d processes instead of %d: random streams restart from the seed",
                        self.ctx.world_size, len(rng))
            torch.manual_seed(self.cfg.train.seed + 1 + self.ctx.rank + 1000 * self.epoch)
        log.info("resumed %s at epoch %d (step %d, best %s %.4f)", self.out, self.epoch, self.step,
                 self.cfg.train.monitor, self.best)

    def _payload(self, *, training: bool) -> dict[str, Any]:
        """The checkpoint: the trained model's part (its format is TrainedModel's), plus with ``training``
        what resuming needs."""
        trained = self.data.trained_model(
            self._eval_model, frames=self.cfg.data.frames, eval=self.eval_settings, source=f"run {self.out}",
            record={"epoch": self.epoch, "metrics": self.history[-1] if self.history else {}})
        payload = trained.checkpoint_payload(self.plain_cfg)
        if training:
            rng = {"cpu": torch.get_rng_state(),
                   "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}
            payload["training"] = {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                                   "epoch": self.epoch, "step": self.step, "best": self.best,
                                   "best_epoch": self.best_epoch, "history": self.history,
                                   "rng": all_gather_objects(rng, self.ctx)}
            if self.ema is not None:
                payload["training"].update(weights=self.model.state_dict(), ema_updates=int(self.ema.n_averaged))
        return payload

    # --------------------------------------------------------------------------------- training
    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        return precision.autocast(self.device, self.amp)

    def _diverged(self, what: str, ids: list[str]) -> InputError:
        """The error that stops a run whose loss or weights stopped being finite: where, and what is kept."""
        kept = (f"{self.out / 'last.pt'} (epoch {self.epoch}) is kept as it was" if self.epoch else
                "no checkpoint was written")
        return InputError(f"training stopped at epoch {self.epoch + 1}, step {self.step + 1}: {what} (batch of "
                          f"videos {listing(ids)}); {kept}. Lower train.lr, keep train.grad_clip on, or check the "
                          f"features of these videos")

    def train_step(self, batch: Any) -> float:
        """One optimiser step on ``batch`` (objective, backward, clipping, update, schedule, EMA); the loss.
        A non-finite loss or learning rate stops the run before any weight changes (InputError naming the batch).
        """
        batch = batch.to(self.device, non_blocking=True)
        t = self.cfg.train
        lr = t.lr * lr_factor(self.step, warmup=t.warmup_steps, total=self.total_steps, schedule=t.schedule,
                              steps_per_epoch=len(self.sampler), step_epochs=t.step_epochs, step_gamma=t.step_gamma)
        if not math.isfinite(lr):
            raise self._diverged(f"the learning rate is {lr} (train.lr={t.lr} times the {t.schedule} schedule)",
                                 batch.ids)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self._autocast():
            loss_sum, count = self.step_fn(batch)
        # DDP averages gradients over processes; scaling by their number makes this the mean over the
        # global batch's tokens (cross-entropy) or samples (SCST).
        total = all_reduce_sum(count.to(loss_sum.device), self.ctx).clamp(min=1)
        loss = loss_sum * self.ctx.world_size / total
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        # Checked before the update, in every process alike (the value is global): a non-finite loss
        # would poison the weights, and the next checkpoint with them. After backward, not before it, so
        # that on a GPU the one host sync of the step does not hold back queuing the backward pass.
        value = float(all_reduce_sum(loss_sum.detach(), self.ctx) / total)
        if not math.isfinite(value):
            raise self._diverged(f"the loss is {value}", batch.ids)
        if self.cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            CLIPPERS[self.cfg.train.grad_clip_mode](self.model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        return value

    def train_epoch(self) -> float:
        """One pass over the training batches (scheduled sampling set for this epoch); the mean loss."""
        cfg = self.cfg.train
        ss = cfg.scheduled_sampling
        ramp = min(1.0, self.epoch / ss.ramp_epochs) if ss.ramp_epochs else 1.0
        self.objective.sampling_prob = ss.max_prob * ramp
        self.sampler.set_epoch(self.epoch)
        self.objective.train()
        total, count = 0.0, 0
        bar = progress_bar(self.loader, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                           show=False if not self.ctx.is_main else None)
        for batch in bar:
            loss = self.train_step(batch)
            total, count = total + loss, count + 1
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            if self.ctx.is_main and cfg.log_every and self.step % cfg.log_every == 0:
                log.info("epoch %d step %d loss %.4f lr %.3g", self.epoch + 1, self.step, loss,
                         self.optimizer.param_groups[0]["lr"])
                self._tb("train/loss", loss)
        return total / max(1, count)

    def _check_weights(self) -> None:
        """Before checkpoints are written: every weight is finite (a last step can overflow them while its
        loss was still finite); else the run stops and the previous checkpoints stay as they were."""
        models = {"model": self.model, **({"averaged model": self.ema.module} if self.ema is not None else {})}
        for label, model in models.items():
            for name, tensor in model.state_dict().items():
                problem = finite_problem(tensor)
                if problem is not None:
                    kept = (f"{self.out / 'last.pt'} (epoch {self.epoch}) is kept as it was" if self.epoch
                            else "no checkpoint was written")
                    raise InputError(f"training stopped after epoch {self.epoch + 1} (step {self.step}): the "
                                     f"{label}'s weight {name} has {problem}; {kept}. Lower train.lr, or keep "
                                     "train.grad_clip on")

    @property
    def _eval_model(self) -> torch.nn.Module:
        """The weights that are validated, selected and saved as the checkpoint's model."""
        return self.model if self.ema is None else self.ema.module

    def validate(self) -> dict[str, float]:
        """The validation scores of the model being selected (the EMA copy when on): CIDEr-D and BLEU-4 of its
        captions (decoded with the run's eval settings) and the validation loss."""
        captions = generate_captions(self._eval_model, self.data.val, self.data.vocab, **self.eval_settings.decoding(),
                                     device=self.device, ctx=self.ctx, progress=None if self.ctx.is_main else False)
        return {**validation_scores(captions, self.data.val.references or {}, self.cider),
                "loss": self.validation_loss()}

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Mean token cross-entropy of every validation reference (teacher forcing, no label smoothing,
        the same caption length cut as training); each process takes every world_size-th reference."""
        pairs = self.data.val_pairs
        objective = CrossEntropy(self._eval_model).eval()
        mine = list(range(self.ctx.rank, len(pairs), self.ctx.world_size))
        loss_sum = count = 0.0
        for batch in batches_in_order(pairs, mine, self.cfg.eval.batch_size):  # no DataLoader: see there
            with self._autocast():
                batch_loss, batch_count = objective(batch.to(self.device))
            loss_sum, count = loss_sum + float(batch_loss), count + float(batch_count)
        totals = all_reduce_sum(torch.tensor([loss_sum, count], dtype=torch.float64, device=self.device), self.ctx)
        return float(totals[0] / totals[1].clamp(min=1))

    def _tb(self, tag: str, value: float) -> None:
        if self.ctx.is_main:
            if not hasattr(self, "_writer"):
                from torch.utils.tensorboard import SummaryWriter  # slow import, only when logging

                self._writer = SummaryWriter(str(self.out / "tb"))
            self._writer.add_scalar(tag, value, self.step)

    def run(self) -> dict[str, Any] | None:
        cfg = self.cfg.train
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(OmegaConf.to_yaml(self.cfg))
            log.info("training %s on %d videos (%d captions), validating on %d videos; %d processes, device %s",
                     self.cfg.model.name, len(self.data.train.video_ids), len(self.data.train),
                     len(self.data.val), self.ctx.world_size, self.device)
        stale = self.epoch - self.best_epoch - 1 if self.best_epoch >= 0 else 0
        while self.epoch < cfg.epochs and not (cfg.early_stop and stale >= cfg.early_stop):
            start = time.perf_counter()
            train_loss = self.train_epoch()
            self._check_weights()
            scores = self.validate()
            score = scores[cfg.monitor]
            improved = score < self.best if self.minimise else score > self.best
            if improved:
                self.best, self.best_epoch = score, self.epoch
            stale = self.epoch - self.best_epoch
            record = {"epoch": self.epoch + 1, "step": self.step, "train_loss": train_loss,
                      "lr": self.optimizer.param_groups[0]["lr"], "val": scores, "best": improved,
                      "seconds": time.perf_counter() - start}
            self.history.append(record)
            self.epoch += 1
            payload = self._payload(training=True)  # every process takes part (random states are gathered)
            if self.ctx.is_main:
                if improved:
                    save_checkpoint(self.out / "best.pt", {k: v for k, v in payload.items() if k != "training"})
                save_checkpoint(self.out / "last.pt", payload)
                write_json(self.out / "metrics.json", self.history)
                for name, value in scores.items():
                    self._tb(f"val/{name}", value)
                log.info("epoch %d: train loss %.4f; validation %s%s (%.1f s)", self.epoch, train_loss,
                         format_scores(scores), " *best*" if improved else "", record["seconds"])
            barrier(self.ctx)
        if hasattr(self, "_writer"):
            self._writer.close()
        if not self.ctx.is_main:
            return None
        best = self.history[self.best_epoch] if self.best_epoch >= 0 else {}
        return {"out": str(self.out), "epochs": self.epoch, "best_epoch": self.best_epoch + 1,
                "best": best.get("val", {}), "stopped_early": self.epoch < cfg.epochs,
                "precision": "fp32" if self.amp is None else f"{str(self.amp).removeprefix('torch.')} autocast",
                "checkpoint": str(self.out / "best.pt")}


def train(cfg: DictConfig, *, resume: bool = False) -> dict[str, Any] | None:
    """Train as ``cfg`` says; returns a summary on rank 0 (None on other ranks).

    Example:
        >>> train(load_config("configs/sa_lstm_msrvtt.yaml", ["data.features=feats/"]))  # doctest: +SKIP
        {'out': 'runs/vidcap', 'epochs': 30, 'best_epoch': 17, 'best': {'CIDEr': 0.43, ...}, ...}
    """
    try:
        return Trainer(cfg, resume=resume).run()
    finally:
        close_distributed()
