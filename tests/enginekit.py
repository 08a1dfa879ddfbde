"""Helpers for the engine tests: a tiny learnable captioning task on a real feature store (each video's
features carry one of three patterns, and its reference captions name that pattern); checkpoints of
untrained models over two real backbones' streams; the Hugging Face cache layout of a model folder."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidcap.data import Vocabulary, collate
from vidcap.engine.checkpoint import save_checkpoint
from vidcap.engine.modelfolder import FILES
from vidcap.features import get_backbone
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter, store_meta
from vidcap.models import get_model
from vidcap.video import Sampling

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


# ------------------------------------------------------------------ untrained models over two real backbones
WORDS = "a man woman dog cat is are playing running cooking singing on the in with guitar ball car road".split()
# stream names as a two-store model sees them (prefixed by backbone); the frame streams deliberately not
# in sorted order, which is what a sorted-keys JSON writer would silently impose
STREAMS = ["resnet18/frame", "resnet18/bilinear", "yolov8n/objects"]


def two_store_metas() -> list[dict[str, Any]]:
    """The store metadata of two real backbones with random weights: ResNet-18 (frame + bilinear streams) and
    YOLOv8n (objects). Building them takes seconds: the engine tests' session fixture ``stores`` holds them."""
    sampling = Sampling(frames=4)
    resnet = get_backbone("resnet18", weights="none", device="cpu", input_size=64, second_order="layer1")
    yolo = get_backbone("yolov8n", weights="none", device="cpu", imgsz=64, conf=0.0, top_k=3)
    return [store_meta(b.spec(sampling), b.streams, b.meta()) for b in (resnet, yolo)]


def untrained_checkpoint(name: str, stores: list[dict[str, Any]], path: Path, streams=tuple(STREAMS)) -> Path:
    """A checkpoint of an untrained ``name`` model over the streams, its weights scaled so that what it
    reads decides what it says (default initialisation gives near-uniform logits)."""
    dims = {"resnet18/frame": stores[0]["dims"]["frame"][0], "resnet18/bilinear": stores[0]["dims"]["bilinear"][0],
            "yolov8n/objects": tuple(stores[1]["dims"]["objects"])}
    dims = {k: v for k, v in dims.items() if k in streams}
    vocab = Vocabulary.build([WORDS], min_count=1)
    torch.manual_seed(0)
    model = get_model(name, vocab_size=len(vocab), input_dims=dims, hidden_size=24, embed_size=12)
    assert list(model.config["input_dims"]) == list(streams)  # the order the model concatenates them in
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    cfg = {"data": {"frames": None, "annotations": ["train.json"], "features": ["a", "b"]},
           "eval": {"beam_size": 2, "max_len": 6, "length_penalty": 0.0, "block_trigrams": False,
                    "allow_unk": False, "batch_size": 8},
           "train": {"epochs": 0}}
    save_checkpoint(path, {"config": cfg, "model": {"config": model.config, "state": model.state_dict()},
                           "data": {"vocab": vocab.state_dict(), "normalizer": None, "stores": stores,
                                    "streams": list(streams)}, "epoch": 0, "metrics": {}})
    return path


def logits(captioner, inputs: dict[str, Any]) -> torch.Tensor:
    """A Captioner's model's teacher-forced logits of one fixed caption for one video's ``inputs``."""
    batch = collate([inputs])
    captions = torch.tensor([[1, 4, 5, 6, 2]])
    with torch.no_grad():
        return captioner.model(batch.feats, batch.masks, captions)


# ----------------------------------------------------------------------------------------- Hub cache
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(folder: Path, cache: Path, repo: str = "vidcap-test/tiny-sa-lstm") -> Path:
    """The Hugging Face cache layout for ``repo`` at commit COMMIT (ref main): blobs named by their
    SHA-256, snapshot entries as relative symlinks to them, as huggingface_hub writes it."""
    storage = cache / f"models--{repo.replace('/', '--')}"
    snapshot = storage / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (storage / "blobs").mkdir()
    for name in FILES:
        data = (folder / name).read_bytes()
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob.name))
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(COMMIT)
    return cache
