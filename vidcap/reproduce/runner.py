"""Run a reproduction step by step: extract once per feature store, then per run and seed train and test.

Every finished step leaves a record in ``OUT/steps/<step>.json`` (what it did, how long it took); a
re-run skips the steps that have one, so an interrupted reproduction resumes where it stopped: an
extraction resumes video by video (vidcap's store does), a training run from its ``last.pt``.
``OUT/settings.json`` holds what the results depend on (dataset, annotations, videos, smoke); a re-run
with other settings is refused instead of mixing results. More seeds may be added later.

Layout of ``OUT``: ``features/<store>/`` (feature stores), ``runs/<run>/seed<k>/`` (``best.pt``,
``last.pt``, ``metrics.json``, ``config.yaml``, ``test_results.json`` (COCO results: the test captions),
``test_scores.json``), ``configs/`` (copies of the paper configs as run), ``steps/``, ``results.json``
and ``results.md`` (written by :mod:`vidcap.reproduce.report`).

Example:
    >>> runner = Runner("msrvtt", video_dir="videos/", annotations=["a.json"], out="repro/",
    ...                 seeds=5, configs_dir="configs/")          # doctest: +SKIP
    >>> runner.run()                                              # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import shlex
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

from omegaconf import OmegaConf

from vidcap.config.loading import config_files, load_config
from vidcap.errors import InputError, UsageError
from vidcap.features.sources import Source, collect_sources, missing_by_split
from vidcap.files import read_json, write_atomic, write_json
from vidcap.registry import UnknownNameError
from vidcap.reproduce.plan import DATASETS, SMOKE_EXTRACTIONS, Extraction, Run, smoke_overrides

__all__ = ["Runner", "caption_lengths"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def _quoted(values: Sequence[Any]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def caption_lengths(lengths: Sequence[int]) -> dict[str, float]:
    """Words per caption: mean, shortest, longest, and how many captions are empty.

    Example:
        >>> caption_lengths([3, 5, 0, 8])
        {'mean': 4.0, 'min': 0, 'max': 8, 'empty': 1}
    """
    if not lengths:
        return {"mean": 0.0, "min": 0, "max": 0, "empty": 0}
    return {"mean": round(sum(lengths) / len(lengths), 3), "min": min(lengths), "max": max(lengths),
            "empty": sum(1 for n in lengths if n == 0)}


def _command(args: Sequence[Any]) -> str:
    """A shell command line for ``args`` (paths and numbers as text, quoted where the shell needs it)."""
    return shlex.join(str(a) for a in args)


class Runner:
    """One reproduction of the paper configs of ``dataset`` (a :data:`DATASETS` name) into ``out``."""

    def __init__(self, dataset: str, *, video_dir: PathLike, annotations: Sequence[PathLike], out: PathLike,
                 seeds: int, configs_dir: PathLike, smoke: bool = False, device: str | None = None,
                 workers: int = 2, say: Callable[[str], None] = print):
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise UsageError(f"--seeds {seeds!r}: must be a positive integer")
        if not annotations:
            raise UsageError("--annotations: give the annotation file(s) (MSR-VTT: train_val_videodatainfo.json "
                             "and test_videodatainfo.json)")
        if dataset not in DATASETS:
            raise UnknownNameError("dataset", dataset, list(DATASETS))
        self.dataset_name, self.plan = dataset, DATASETS[dataset]
        self.seeds, self.smoke, self.device, self.workers = seeds, smoke, device, workers
        self.video_dir = Path(video_dir).resolve()
        self.annotations = [Path(a).resolve() for a in annotations]
        self.out, self.configs_dir, self.say = Path(out).resolve(), Path(configs_dir).resolve(), say
        for run in self.plan.runs:
            if not (self.configs_dir / f"{run.config}.yaml").is_file():
                raise InputError(f"{self.configs_dir / (run.config + '.yaml')}: paper config not found")
            for base in config_files(self.configs_dir / f"{run.config}.yaml"):  # copied beside it (run())
                if os.path.relpath(base.resolve(), self.configs_dir).startswith(os.pardir):
                    raise InputError(f"{base}: a _base_ of {run.config}.yaml outside {self.configs_dir}; the "
                                     "reproduction copies its configs folder, so keep the bases in it")
        self.steps: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------------------- bookkeeping
    def _settings(self) -> dict[str, Any]:
        return {"annotations": [str(a) for a in self.annotations], "video_dir": str(self.video_dir),
                "smoke": self.smoke, "runs": [r.name for r in self.plan.runs]}

    def _check_settings(self) -> None:
        path = self.out / "settings.json"
        now = self._settings()
        if path.exists():
            before = read_json(path, "reproduction settings")
            diff = [f"{k}: {before.get(k)!r} -> {now[k]!r}" for k in now if before.get(k) != now[k]]
            if diff:
                raise UsageError(f"{self.out} holds a reproduction made with other settings ({'; '.join(diff)}); "
                                 "run it with the same ones to resume, or choose another --out")
        else:
            write_json(path, now)

    def _step(self, name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``work`` unless ``steps/<name>.json`` says it is done; record and return its result."""
        marker = self.out / "steps" / f"{name}.json"
        if marker.exists():
            record = read_json(marker, "reproduction step record")
            self.say(f"{name}: done before ({record['seconds']:.1f} s), skipped")
        else:
            self.say(f"{name}: running")
            start = time.perf_counter()
            result = work()
            record = {"step": name, "seconds": round(time.perf_counter() - start, 3), **result}
            write_json(marker, record)
            self.say(f"{name}: finished in {record['seconds']:.1f} s")
        self.steps[name] = record
        return record

    # ----------------------------------------------------------------------------------- videos
    def _sources(self) -> list[Source]:
        sources = collect_sources(video_dir=self.video_dir, annotations=self.annotations)
        missing = missing_by_split(sources)
        self.missing = {split: {"missing": m, "annotated": n} for split, (m, n) in missing.items()}
        lost = sum(m for m, _ in missing.values())
        if lost:
            self.say("videos without a file in " + str(self.video_dir) + ": "
                     + ", ".join(f"{s} {m} of {n}" for s, (m, n) in missing.items()))
        return sources

    def extraction(self, name: str) -> Extraction:
        return SMOKE_EXTRACTIONS[name] if self.smoke else self.plan.extractions[name]

    def store_name(self, name: str) -> str:
        """The folder of extraction ``name``: its key in the plan (the smoke run uses tiny settings in it)."""
        return name

    def store(self, name: str) -> Path:
        return self.out / "features" / self.store_name(name)

    def extract_command(self, name: str) -> str:
        ex = self.extraction(name)
        args = ["vidcap", "extract", "--video-dir", self.video_dir,
                *(x for a in self.annotations for x in ("--annotations", a)), "--backbone", ex.backbone,
                "--weights", ex.weights, *(x for k, v in ex.sampling.items() for x in (f"--{k}", v)),
                *(x for k, v in ex.options.items() for x in ("--option", f"{k}={v}")), "--out", self.store(name)]
        return _command(args + (["--device", self.device] if self.device else []))

    def _extract(self, name: str, sources: list[Source]) -> dict[str, Any]:
        from vidcap.features.extract import extract
        from vidcap.features.store import FeatureStore
        from vidcap.video import Sampling

        ex = self.extraction(name)
        report = extract(sources, self.store(name), backbone=ex.backbone, weights=ex.weights,
                         sampling=Sampling.from_options(**ex.sampling), workers=self.workers, device=self.device,
                         options=dict(ex.options))  # the bar shows where stderr is a terminal (vidcap.progress)
        self.say(report.summary())
        if report.failures:
            self.say(report.problems())
        failed = [f for f in report.failures if not any(s.video_id == f["video_id"] and s.missing for s in sources)]
        return {"command": self.extract_command(name), "extracted": report.extracted, "skipped": report.skipped,
                "frames": report.frames, "unreadable": failed,
                "spec": FeatureStore(self.store(name)).meta.get("spec")}

    # --------------------------------------------------------------------------------- training
    def run_dir(self, config: str, seed: int) -> Path:
        return self.out / "runs" / config / f"seed{seed}"

    def overrides(self, run: Run, seed: int) -> list[str]:
        """The ``key=value`` overrides that point a paper config at this reproduction's files."""
        items = [f"data.annotations={_quoted(self.annotations)}", f"data.features={self.store(run.features)}",
                 f"train.seed={seed}", f"out={self.run_dir(run.name, seed)}"]
        if run.init_from:
            items.append(f"train.init={self.run_dir(run.init_from, seed) / 'best.pt'}")
        if self.allow_missing:
            items.append("data.allow_missing=true")
        if self.device:
            items.append(f"device={self.device}")
        if self.smoke:
            name = load_config(self.configs_dir / f"{run.config}.yaml").model.name
            items += smoke_overrides(name, scst=run.init_from is not None)
        return items

    def train_command(self, run: Run, seed: int) -> str:
        return _command(["vidcap", "train", self.configs_dir / f"{run.config}.yaml", *self.overrides(run, seed)])

    def _train(self, run: Run, seed: int) -> dict[str, Any]:
        from vidcap.training.trainer import train

        folder = self.run_dir(run.name, seed)
        resume = (folder / "last.pt").exists()
        if not resume and folder.exists():  # killed before its first last.pt: nothing to resume from
            shutil.rmtree(folder)
        cfg = load_config(self.configs_dir / f"{run.config}.yaml", self.overrides(run, seed))
        if resume:
            self.say(f"resuming {folder / 'last.pt'}")
        summary = train(cfg, resume=resume) or {}
        return {"command": self.train_command(run, seed), "resumed": resume, "epochs": summary.get("epochs"),
                "best_epoch": summary.get("best_epoch"), "validation": summary.get("best", {}),
                "precision": summary.get("precision"),
                "config": OmegaConf.to_container(cfg, resolve=True)}

    # ---------------------------------------------------------------------------------- testing
    def test_command(self, run: Run, seed: int, beam_size: int) -> str:
        folder = self.run_dir(run.name, seed)
        args = ["vidcap", "eval", "--model", folder / "best.pt", "--features", self.store(run.features),
                *(x for a in self.annotations for x in ("--annotations", a)), "--split", self.plan.split,
                "--beam-size", beam_size, "--results", folder / "test_results.json",
                "--json", folder / "test_scores.json", "--spice", "off"]
        return _command(args + (["--allow-missing"] if self.allow_missing else [])
                        + (["--device", self.device] if self.device else []))

    def _test(self, run: Run, seed: int) -> dict[str, Any]:
        from vidcap.inference.captioner import Captioner
        from vidcap.trained.model import TrainedModel
        from vidcap.metrics.scoring import score_results
        from vidcap.outputs import write_results

        folder = self.run_dir(run.name, seed)
        trained = TrainedModel.from_checkpoint(folder / "best.pt")
        captioner = Captioner(trained, device=self.device)
        decoding = trained.eval.decoding()  # the model's eval settings: the config's, as validation used them
        beam = decoding["beam_size"]
        results = captioner.caption_split(self.annotations, split=self.plan.split, features=self.store(run.features),
                                          allow_missing=self.allow_missing)
        write_results(folder / "test_results.json", results)
        report = score_results(results, self.annotations, split=self.plan.split, spice="off",
                               source=str(folder / "best.pt"), allow_missing=self.allow_missing)
        report.write_json(folder / "test_scores.json")
        self.say(report.table().split("\n\n")[0])
        lengths = [len(r["caption"].split()) for r in results]
        return {"command": self.test_command(run, seed, beam), "scores": dict(report.overall),
                "scored": report.scored, "split_size": report.split_size, "notes": report.notes(),
                "decoding": {k: v for k, v in decoding.items() if k != "batch_size"},
                "vocabulary_size": len(captioner.vocab), "caption_words": caption_lengths(lengths)}

    # ------------------------------------------------------------------------------------ all
    def run(self) -> dict[str, dict[str, Any]]:
        """Every step of the plan, in order (finished ones skipped); returns the step records by name."""
        from vidcap.metrics.java import require_java

        require_java()  # the test scores need it: fail now, not after hours of training
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_settings()
        sources = self._sources()
        for name in sorted({run.features for run in self.plan.runs}):
            record = self._step(f"extract-{self.store_name(name)}", partial(self._extract, name, sources))
            if record["unreadable"]:
                self.say(f"{len(record['unreadable'])} videos could not be read: see {self.store(name)}/failures.json")
        lost = sum(v["missing"] for v in self.missing.values())
        self.allow_missing = bool(lost or any(r.get("unreadable") for r in self.steps.values()))
        (self.out / "configs").mkdir(exist_ok=True)
        for run in self.plan.runs:
            for src in config_files(self.configs_dir / f"{run.config}.yaml"):  # with its _base_ files: it loads
                copy = self.out / "configs" / os.path.relpath(src.resolve(), self.configs_dir)  # there as it did here
                copy.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(copy, src.read_text())
            for seed in range(self.seeds):
                self._step(f"train-{run.name}-seed{seed}", partial(self._train, run, seed))
                self._step(f"test-{run.name}-seed{seed}", partial(self._test, run, seed))
        return self.steps
