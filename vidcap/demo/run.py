"""``vidcap demo``: the whole pipeline offline, on real video files it generates, in a few minutes.

generate clips (:mod:`vidcap.demo.synthetic`) → ``extract`` ResNet-18 features → ``train`` an SA-LSTM
(``configs/demo.yaml``) → caption the held-out test clips and score them with every COCO metric →
caption one held-out file with subtitles and a preview → ``DIR/metrics.json`` and a summary.

Nothing bypasses the pipeline: features come from decoding the written files with a real backbone, and
the captions of the test clips are checked for naming the clip's true colour, shape and motion
(attribute accuracy). ImageNet weights are used when torchvision can load them; offline they cannot,
and the demo says so and uses random weights (``docs/notes/demo-research-log.md`` explains why it still
learns).
Running the demo again in the same folder reuses what is there (clips, features, the trained run).

Example:
    >>> summary = run_demo("vidcap-demo", quick=True)           # doctest: +SKIP
    >>> summary["attribute_accuracy"]["all"] > 0.5              # doctest: +SKIP
    True
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from vidcap.config.loading import load_config
from vidcap.demo.synthetic import SyntheticDataset, attribute_accuracy, generate
from vidcap.errors import InputError, UsageError
from vidcap.features import extract, get_backbone
from vidcap.features.sources import collect_sources
from vidcap.files import write_json
from vidcap.inference.captioner import Captioner
from vidcap.metrics.java import require_java
from vidcap.metrics.meteor import MeteorPool, meteor_processes
from vidcap.metrics.scoring import score_results
from vidcap.outputs import Segment, save_preview, write_results, write_srt
from vidcap.training.trainer import train
from vidcap.video import Sampling

__all__ = ["DemoProfile", "PROFILES", "run_demo"]

log = logging.getLogger(__name__)

DEMO_CONFIG = "demo.yaml"  # packaged with vidcap.demo; configs/demo.yaml is the same file


@dataclass(frozen=True)
class DemoProfile:
    """How big a demo run is: clips, frames sampled per clip, ResNet-18 options, training epochs."""

    videos: int
    frames: int
    backbone_options: dict
    epochs: int


# ResNet-18's first stage pooled as a 1x1 + 2x2 spatial pyramid: with random weights it keeps colour and
# position (so motion) far better than the last stage's global pool, at a tenth of the cost; and the
# first convolution's bilinear pool, which carries the shape (whitened in training, configs/demo.yaml).
# 64-pixel frames, letterboxed: the shapes' edges then fill conv1's 7x7 windows, and nothing near the
# frame's sides is cropped away; docs/notes/demo-research-log.md has the measurements.
EARLY_PYRAMID = {"fit": "letterbox", "stage": "layer1", "pyramid": 2, "second_order": "conv1"}
# The full profile's size is what made the shape words generalise: with 672 training clips the SA-LSTM
# named the shape of 85-92% of test clips, with 1,344 of them (and half the epochs, the same cost) 95-97%.
# 6 frames a clip rather than 8: 95.8-97.9% all three over five training seeds against 96.6-97.9%, for a
# sixth less time (docs/notes/demo-research-log.md).
PROFILES = {"full": DemoProfile(videos=1920, frames=6, backbone_options={"input_size": 64, **EARLY_PYRAMID},
                                epochs=12),
            "quick": DemoProfile(videos=144, frames=6, backbone_options={"input_size": 64, **EARLY_PYRAMID},
                                 epochs=20)}


def _weights(backbone: str) -> str:
    """ImageNet weights when they can be loaded, else random weights — said out loud, and recorded."""
    try:
        get_backbone(backbone, weights="imagenet", device="cpu")
        return "imagenet"
    except InputError as err:
        print(f"vidcap demo: no pretrained {backbone} weights here ({str(err).split(':')[0]}); using random "
              "weights (--weights none). The features are still informative: see "
              "docs/notes/demo-research-log.md.", flush=True)
        return "none"


def _cores() -> int:
    """Cores this process may use (the affinity mask where the OS has one: containers often limit it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _clips(root: Path, profile: DemoProfile) -> SyntheticDataset:
    """The demo's clips: generated once (in as many processes as there are cores), reused by a re-run.

    Clips are named by their index, so clips of the other profile in the same folder would be taken
    for this one's (features, too, are reused by name): that is refused rather than mixed.
    """
    if not (root / "attributes.json").exists():  # written last: its presence means generation finished
        return generate(root, n_videos=profile.videos, seed=0, workers=_cores())
    data = SyntheticDataset.open(root)
    if len(data.attributes) != profile.videos:
        raise UsageError(f"{root}: holds the {len(data.attributes)} clips of another demo profile, and this one "
                         f"makes {profile.videos}; choose another --out (nothing there was changed)")
    return data


def run_demo(out: str | Path = "vidcap-demo", *, quick: bool = False, java: bool = True) -> dict[str, Any]:
    """Run the offline demo into ``out``; returns (and writes to ``out/metrics.json``) its summary."""
    out = Path(out)
    profile = PROFILES["quick" if quick else "full"]
    if java:
        require_java()  # no Java: say so now, not after minutes of work
    seconds: dict[str, float] = {}
    start = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        seconds[name], last = round(now - last, 2), now

    data = _clips(out / "clips", profile)
    lap("generate")
    weights = _weights("resnet18")
    report = extract(collect_sources(video_dir=data.video_dir), out / "features", backbone="resnet18",
                     weights=weights, sampling=Sampling(frames=profile.frames), batch_size=64, workers=2,
                     options=profile.backbone_options)
    if report.failures:
        raise InputError(f"demo extraction failed for {len(report.failures)} clips (see {out / 'features'})")
    lap("extract")

    run_dir = out / "run"
    with resources.as_file(resources.files("vidcap.demo") / DEMO_CONFIG) as config:
        cfg = load_config(config, [f"data.annotations={data.annotations}", f"data.features={out / 'features'}",
                                   f"out={run_dir}", f"train.epochs={profile.epochs}"])
    # METEOR's Java start-up (loading its paraphrase tables: most of the time of scoring the demo's test clips;
    # docs/benchmarks.md) runs during training at the lowest CPU priority, on what training leaves idle.
    pool = MeteorPool(meteor_processes(len(data.ids("test"))), nice=19) if java else contextlib.nullcontext()
    with pool as meteor:
        train(cfg, resume=(run_dir / "last.pt").exists())
        lap("train")

        captioner = Captioner.from_checkpoint(run_dir / "best.pt")
        results = captioner.caption_split([data.annotations], split="test", features=out / "features",
                                          beam_size=cfg.eval.beam_size)
        write_results(out / "test_results.json", results)
        scores = score_results(results, [data.annotations], split="test", java=java, spice="auto",
                               source=str(out / "test_results.json"), meteor=meteor)
    scores.write_json(out / "test_scores.json")
    test_attributes = {vid: a for vid, a in data.attributes.items() if a["split"] == "test"}
    accuracy = attribute_accuracy(results, test_attributes)
    lap("evaluate")

    clip_id = sorted(test_attributes)[0]
    clip_path = data.video_dir / test_attributes[clip_id]["file"]
    described = captioner.describe(clip_path, beam_size=cfg.eval.beam_size, segment=1.0)
    write_srt(out / f"{clip_id}.srt", [Segment(*span) for span in described.segments])
    save_preview(out / f"{clip_id}.png", described.clip.frames, described.clip.timestamps, described.caption)
    lap("caption")
    seconds["total"] = round(time.perf_counter() - start, 2)

    summary = {
        "profile": "quick" if quick else "full", "backbone": "resnet18", "backbone_options": profile.backbone_options,
        "weights": weights,
        "clips": {"train": len(data.ids("train")), "validate": len(data.ids("validate")),
                  "test": len(data.ids("test"))},
        "scores": scores.overall, "comparable_to_published": scores.evaluation.comparable,
        "score_notes": scores.notes(), "attribute_accuracy": accuracy,
        "example": {"video": str(clip_path), "caption": described.caption, "truth": test_attributes[clip_id]},
        "seconds": seconds,
        "paths": {"clips": str(data.video_dir), "annotations": str(data.annotations),
                  "features": str(out / "features"), "run": str(run_dir), "checkpoint": str(run_dir / "best.pt"),
                  "results": str(out / "test_results.json"), "scores": str(out / "test_scores.json"),
                  "srt": str(out / f"{clip_id}.srt"), "preview": str(out / f"{clip_id}.png")},
    }
    write_json(out / "metrics.json", summary)
    _print_summary(summary, scores.table())
    return summary


def _print_summary(summary: dict[str, Any], table: str) -> None:
    acc = summary["attribute_accuracy"]
    ex = summary["example"]
    truth = ex["truth"]
    lines = [
        "", "vidcap demo: done in {:.0f} s ({})".format(
            summary["seconds"]["total"], ", ".join(f"{k} {v:.0f} s" for k, v in summary["seconds"].items()
                                                    if k != "total")),
        f"backbone resnet18, weights {summary['weights']}; clips {summary['clips']}",
        "", table, "",
        f"attribute accuracy on {acc['n']} test clips: all three right {100 * acc['all']:.1f}% "
        f"(colour {100 * acc['colour']:.1f}%, shape {100 * acc['shape']:.1f}%, motion {100 * acc['motion']:.1f}%)",
        f"example: {ex['video']}", f"  caption: {ex['caption']}",
        f"  truth:   {truth['colour']} {truth['shape']} moving {truth['motion']}", "",
        "where everything is:", *(f"  {k:<12} {v}" for k, v in summary["paths"].items()),
        f"  {'metrics':<12} {Path(summary['paths']['run']).parent / 'metrics.json'}",
    ]
    print("\n".join(lines), flush=True)
