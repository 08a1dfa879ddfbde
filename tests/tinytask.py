"""A tiny learnable captioning task on a real feature store. Each video's
features carry one of three patterns, and its reference captions name that pattern."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter

CAPTIONS = {0: ["a red ball rolls", "the red ball rolls"], 1: ["a blue cube spins", "the blue cube spins"],
            2: ["a green star jumps", "the green star jumps"]}
SPLITS = {"train": 24, "validate": 6, "test": 6}


def make_task(root: Path, *, frames: int = 6, dim: int = 16, seed: int = 0, dtype: str = "float16"
              ) -> tuple[Path, Path]:
    """Write ``root/feats`` (a feature store, frames stored as ``dtype``) and ``root/ann.json``; returns
    both paths."""
    rng = np.random.default_rng(seed)
    spec = FeatureSpec.external("resnet18", {"frame": dtype}, frames=frames)
    writer = StoreWriter(root / "feats", spec, {"frame": [dim]})
    videos, sentences, i = [], [], 0
    for split, count in SPLITS.items():
        for _ in range(count):
            pattern = i % 3
            feats = rng.normal(size=(frames, dim)).astype(np.float32) * 0.3
            feats[:, pattern] += 3.0
            writer.write(f"v{i}", {"frame": feats}, indices=np.arange(frames), timestamps=np.arange(frames) / 10,
                         info={"fps": 10.0})
            videos.append({"video_id": f"v{i}", "split": split, "category": pattern})
            sentences += [{"video_id": f"v{i}", "caption": c, "sen_id": len(sentences) + k}
                          for k, c in enumerate(CAPTIONS[pattern])]
            i += 1
    ann = root / "ann.json"
    ann.write_text(json.dumps({"videos": videos, "sentences": sentences}))
    return root / "feats", ann


TINY = ["model.name=sa-lstm", "model.hidden_size=32", "model.embed_size=16", "model.attention_size=16",
        "model.dropout=0.0", "train.batch_size=8", "train.lr=0.01", "train.workers=0", "train.early_stop=0", "train.log_every=1000",
        "eval.beam_size=2", "eval.max_len=6", "data.min_count=1", "data.max_len=6",
        "device=cpu"]
