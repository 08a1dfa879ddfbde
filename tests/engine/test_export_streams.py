"""Export is exact for every model: stream order is part of the model and survives checkpoint → model
folder → Hugging Face cache, for every registered model fed two frame streams (ResNet-18 frame + bilinear)
and a YOLO object stream, from two real backbones (random weights, rebuilt by identity when captioning).
Logits and captions of a real clip are compared, and the older folder format that lost the order is
refused rather than guessed."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from test_export import COMMIT, _hub_cache
from trainkit import BOTTLE
from vidcap.data import Vocabulary, collate
from vidcap.engine.captioner import Captioner
from vidcap.engine.checkpoint import save_checkpoint
from vidcap.engine.modelfolder import CONFIG, FIRST_FORMAT, read_model_folder
from vidcap.engine.trained import export_model
from vidcap.errors import InputError
from vidcap.features import get_backbone
from vidcap.features.store import store_meta
from vidcap.models import get_model, list_models
from vidcap.video import Sampling

WORDS = "a man woman dog cat is are playing running cooking singing on the in with guitar ball car road".split()
# stream names as a two-store model sees them (prefixed by backbone); the frame streams deliberately not
# in sorted order, which is what a sorted-keys JSON writer would silently impose
STREAMS = ["resnet18/frame", "resnet18/bilinear", "yolov8n/objects"]


@pytest.fixture(scope="module")
def stores():
    sampling = Sampling(frames=4)
    resnet = get_backbone("resnet18", weights="none", device="cpu", input_size=64, second_order="layer1")
    yolo = get_backbone("yolov8n", weights="none", device="cpu", imgsz=64, conf=0.0, top_k=3)
    return [store_meta(b.spec(sampling), b.streams, b.meta()) for b in (resnet, yolo)]


def _checkpoint(name: str, stores, path, streams=tuple(STREAMS)):
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


def _logits(captioner: Captioner, inputs) -> torch.Tensor:
    batch = collate([inputs])
    captions = torch.tensor([[1, 4, 5, 6, 2]])
    with torch.no_grad():
        return captioner.model(batch.feats, batch.masks, captions)


@pytest.mark.slow  # every model: 15-30 s each on 2 shared cores
@pytest.mark.parametrize("name", list_models())
def test_every_model_captions_exactly_after_checkpoint_folder_and_hub_cache(name, stores, tmp_path):
    ckpt = _checkpoint(name, stores, tmp_path / "best.pt")
    folder = export_model(ckpt, tmp_path / "model")
    assert [n for n, _ in json.loads((folder / CONFIG).read_text())["model"]["input_dims"]] == STREAMS
    cache = _hub_cache(folder, tmp_path / "hub", repo=f"vidcap-test/{name}")
    loaded = [Captioner.from_checkpoint(ckpt, device="cpu"), Captioner.from_pretrained(folder, device="cpu"),
              Captioner.from_pretrained(f"hf:vidcap-test/{name}@{COMMIT}", device="cpu", cache_dir=cache)]
    assert [list(c.model.config["input_dims"]) for c in loaded] == [STREAMS] * 3
    inputs, _ = loaded[0]._inputs(BOTTLE)  # the real clip through both rebuilt backbones
    for captioner in loaded[1:]:  # same specs, so the same backbones (rebuilding them costs seconds each)
        assert captioner.specs == loaded[0].specs
        captioner._backbones = loaded[0]._backbones
    assert set(inputs["feats"]) == set(STREAMS)
    reference = _logits(loaded[0], inputs)
    for captioner in loaded[1:]:
        assert torch.equal(_logits(captioner, inputs), reference)
    # The check can fail: the same model reading its frame streams the other way round says otherwise.
    swapped = {**inputs, "feats": {**inputs["feats"]}}
    a, b = STREAMS[:2]
    size = min(inputs["feats"][a].shape[-1], inputs["feats"][b].shape[-1])
    swapped["feats"][a] = inputs["feats"][a].copy()
    swapped["feats"][a][..., :size] = inputs["feats"][b][..., :size]
    assert not torch.equal(_logits(loaded[0], swapped), reference)
    captions = [c.caption([BOTTLE], beam_size=2) for c in loaded]
    assert captions[1:] == [captions[0]] * 2 and captions[0][0], captions


def test_an_older_folder_whose_stream_order_was_lost_is_refused(stores, tmp_path):
    folder = export_model(_checkpoint("sa-lstm", stores, tmp_path / "best.pt"), tmp_path / "model")
    old = shutil.copytree(folder, tmp_path / "old")
    config = json.loads((old / CONFIG).read_text())
    config["format"] = FIRST_FORMAT
    config["model"]["input_dims"] = dict(sorted((n, d) for n, d in config["model"]["input_dims"]))
    (old / CONFIG).write_text(json.dumps(config, sort_keys=True))
    with pytest.raises(InputError, match=r"model.input_dims is an object with 2 frame streams \(resnet18/bilinear, "
                                         r"resnet18/frame\).*Export the model again"):
        read_model_folder(old)
    # one frame stream and one object stream say no order: such an older folder still loads, unverified
    folder = export_model(_checkpoint("sa-lstm", stores, tmp_path / "one.pt", streams=STREAMS[::2]), tmp_path / "one")
    config = json.loads((folder / CONFIG).read_text())
    config["format"] = FIRST_FORMAT
    config["model"]["input_dims"] = dict(sorted((n, d) for n, d in config["model"]["input_dims"]))
    del config["checksums"]
    (folder / CONFIG).write_text(json.dumps(config, sort_keys=True))
    assert list(read_model_folder(folder)["model"].config["input_dims"]) == STREAMS[::2]
