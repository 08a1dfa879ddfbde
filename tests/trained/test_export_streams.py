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

from exportkit import COMMIT, STREAMS, hub_cache, logits, untrained_checkpoint
from trainkit import BOTTLE
from vidcap.errors import InputError
from vidcap.inference.captioner import Captioner
from vidcap.models import list_models
from vidcap.trained.folder import CONFIG, FIRST_FORMAT, read_model_folder
from vidcap.trained.model import export_model

@pytest.mark.slow  # every model: 15-30 s each on 2 shared cores
@pytest.mark.parametrize("name", list_models())
def test_every_model_captions_exactly_after_checkpoint_folder_and_hub_cache(name, stores, tmp_path):
    ckpt = untrained_checkpoint(name, stores, tmp_path / "best.pt")
    folder = export_model(ckpt, tmp_path / "model")
    assert [n for n, _ in json.loads((folder / CONFIG).read_text())["model"]["input_dims"]] == STREAMS
    cache = hub_cache(folder, tmp_path / "hub", repo=f"vidcap-test/{name}")
    loaded = [Captioner.from_checkpoint(ckpt, device="cpu"), Captioner.from_pretrained(folder, device="cpu"),
              Captioner.from_pretrained(f"hf:vidcap-test/{name}@{COMMIT}", device="cpu", cache_dir=cache)]
    assert [list(c.model.config["input_dims"]) for c in loaded] == [STREAMS] * 3
    inputs, _ = loaded[0].inputs(BOTTLE)  # the real clip through both rebuilt backbones
    assert all(captioner.specs == loaded[0].specs for captioner in loaded[1:])  # each rebuilds its own backbones
    assert set(inputs["feats"]) == set(STREAMS)
    reference = logits(loaded[0], inputs)
    for captioner in loaded[1:]:
        assert torch.equal(logits(captioner, inputs), reference)
    # The check can fail: the same model reading its frame streams the other way round says otherwise.
    swapped = {**inputs, "feats": {**inputs["feats"]}}
    a, b = STREAMS[:2]
    size = min(inputs["feats"][a].shape[-1], inputs["feats"][b].shape[-1])
    swapped["feats"][a] = inputs["feats"][a].copy()
    swapped["feats"][a][..., :size] = inputs["feats"][b][..., :size]
    assert not torch.equal(logits(loaded[0], swapped), reference)
    captions = [c.caption([BOTTLE], beam_size=2) for c in loaded]
    assert captions[1:] == [captions[0]] * 2 and captions[0][0], captions


def test_an_older_folder_whose_stream_order_was_lost_is_refused(stores, tmp_path):
    folder = export_model(untrained_checkpoint("sa-lstm", stores, tmp_path / "best.pt"), tmp_path / "model")
    old = shutil.copytree(folder, tmp_path / "old")
    config = json.loads((old / CONFIG).read_text())
    config["format"] = FIRST_FORMAT
    config["model"]["input_dims"] = dict(sorted((n, d) for n, d in config["model"]["input_dims"]))
    (old / CONFIG).write_text(json.dumps(config, sort_keys=True))
    with pytest.raises(InputError, match=r"model.input_dims is an object with 2 frame streams \(resnet18/bilinear, "
                                         r"resnet18/frame\).*Export the model again"):
        read_model_folder(old)
    # one frame stream and one object stream say no order: such an older folder still loads, unverified
    one = untrained_checkpoint("sa-lstm", stores, tmp_path / "one.pt", streams=STREAMS[::2])
    folder = export_model(one, tmp_path / "one")
    config = json.loads((folder / CONFIG).read_text())
    config["format"] = FIRST_FORMAT
    config["model"]["input_dims"] = dict(sorted((n, d) for n, d in config["model"]["input_dims"]))
    del config["checksums"]
    (folder / CONFIG).write_text(json.dumps(config, sort_keys=True))
    assert list(read_model_folder(folder)["model"].config["input_dims"]) == STREAMS[::2]
