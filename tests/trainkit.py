"""A small trained captioning model for the tests of what uses one (model folders, the web page, scene
segments, attention strips): synthetic clips → ResNet-18 features (random weights, 64² input, 4 frames)
→ SA-LSTM trained for 8 epochs, best.pt by validation loss. The session fixture ``tiny_model``
(tests/conftest.py) trains it once per test session and every test shares it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinytask import TINY

ROOT = Path(__file__).resolve().parent
BOTTLE = ROOT / "assets" / "intel_bottle-detection.mp4"  # a real clip (tests/assets/README.md)


@dataclass(frozen=True)
class TinyModel:
    ckpt: Path        # best.pt
    run: Path         # its run folder (metrics.json)
    videos: Path      # the synthetic clips' folder
    annotations: Path
    features: Path


def train_tiny_model(root: Path) -> TinyModel:
    """Generate the clips, extract their features and train the model under ``root`` (an empty folder)."""
    from vidcap.demo.synthetic import generate
    from vidcap.config.loading import load_config
    from vidcap.training.trainer import train
    from vidcap.features import extract
    from vidcap.features.sources import collect_sources
    from vidcap.video import Sampling

    ds = generate(root / "synth", n_videos=12, seed=3, captions_per_video=2)
    report = extract(collect_sources(video_dir=ds.video_dir), root / "feats", backbone="resnet18", weights="none",
                     sampling=Sampling(frames=4), batch_size=16, workers=0, progress=False,
                     options={"input_size": 64})
    assert not report.failures
    cfg = load_config(None, [f"data.features={root / 'feats'}", f"data.annotations={ds.annotations}",
                             f"out={root / 'run'}", *TINY, "train.epochs=8", "data.deltas=true",
                             # the validation split is 1-2 clips, whose CIDEr stays 0: selecting by it kept
                             # epoch 1, whose captions are often empty; the loss keeps falling
                             "train.monitor=loss"])
    train(cfg)
    return TinyModel(root / "run" / "best.pt", root / "run", ds.video_dir, ds.annotations, root / "feats")
