"""Helpers for the export and save/load tests: checkpoints of untrained models over two real backbones'
streams (their weights scaled so that what a model reads decides what it says), their logits, and the
Hugging Face cache layout of a model folder."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from vidcap.data import Vocabulary, collate
from vidcap.features import get_backbone
from vidcap.features.store import store_meta
from vidcap.models import get_model
from vidcap.trained.checkpoint import save_checkpoint
from vidcap.trained.folder import FILES
from vidcap.video import Sampling


# ------------------------------------------------------------------ untrained models over two real backbones
WORDS = "a man woman dog cat is are playing running cooking singing on the in with guitar ball car road".split()
# stream names as a two-store model sees them (prefixed by backbone); the frame streams deliberately not
# in sorted order, which is what a sorted-keys JSON writer would silently impose
STREAMS = ["resnet18/frame", "resnet18/bilinear", "yolov8n/objects"]


def two_store_metas() -> list[dict[str, Any]]:
    """The store metadata of two real backbones with random weights: ResNet-18 (frame + bilinear streams) and
    YOLOv8n (objects). Building them takes seconds: the session fixture ``stores`` (tests/conftest.py) holds them."""
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
