"""Captioner.save_pretrained → Captioner.from_pretrained is exact for every registered model (logits and
captions of a real clip's features), writes the same folder format ``vidcap export`` writes (one writer), and
resolves plain Hub ids ``org/name`` with ``revision=`` through the Hugging Face cache offline."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from exportkit import COMMIT, hub_cache, logits, untrained_checkpoint
from trainkit import BOTTLE
from vidcap.errors import InputError, UsageError
from vidcap.inference.captioner import Captioner
from vidcap.models import list_models
from vidcap.trained.folder import CARD, CONFIG, FILES, FORMAT, WEIGHTS
from vidcap.trained.model import export_model


@pytest.fixture(scope="module")
def inputs(stores, tmp_path_factory):
    """Model inputs of a real clip through both (random-weight) backbones; every model reads the same streams."""
    ckpt = untrained_checkpoint("sa-lstm", stores, tmp_path_factory.mktemp("inputs") / "best.pt")
    return Captioner.from_checkpoint(ckpt, device="cpu").inputs(BOTTLE)[0]


def _same(a: Captioner, b: Captioner, inputs) -> None:
    assert list(b.model.config["input_dims"]) == list(a.model.config["input_dims"])
    assert torch.equal(logits(b, inputs), logits(a, inputs))
    assert b.decode([inputs], beam_size=2) == a.decode([inputs], beam_size=2)


@pytest.mark.parametrize("name", list_models())
def test_save_then_load_is_exact_for_every_model(name, stores, inputs, tmp_path):
    ckpt = untrained_checkpoint(name, stores, tmp_path / "best.pt")
    original = Captioner.from_checkpoint(ckpt, device="cpu")
    folder = original.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    loaded = Captioner.from_pretrained(folder, device="cpu")
    _same(original, loaded, inputs)
    assert loaded.decode([inputs], beam_size=2)[str(BOTTLE)]  # a caption, not an empty string
    # a folder loaded back saves again to the same model, its training record carried along
    again = Captioner.from_pretrained(loaded.save_pretrained(tmp_path / "again"), device="cpu")
    _same(original, again, inputs)
    assert again.trained.record == original.trained.record and original.trained.record["checkpoint"] == "best.pt"


def test_save_pretrained_writes_what_export_writes(stores, tmp_path):
    ckpt = untrained_checkpoint("s2vt", stores, tmp_path / "best.pt")
    exported = export_model(ckpt, tmp_path / "a" / "model")
    saved = Captioner.from_checkpoint(ckpt, device="cpu").save_pretrained(tmp_path / "b" / "model")
    assert json.loads((saved / CONFIG).read_text())["format"] == FORMAT
    # one writer, the checkpoint's training record kept by the Captioner: the same config, card and tensors
    # (safetensors' header order is not fixed, so its tensors are compared rather than its bytes)
    for name in (CONFIG, CARD):
        assert (saved / name).read_bytes() == (exported / name).read_bytes(), name
    a, b = load_file(saved / WEIGHTS), load_file(exported / WEIGHTS)
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_the_model_card_says_what_is_unknown(stores, inputs, tmp_path):
    original = Captioner.from_checkpoint(untrained_checkpoint("mp-lstm", stores, tmp_path / "best.pt"), device="cpu")
    original.trained = dataclasses.replace(original.trained, record=None)  # e.g. a model assembled in memory
    card = (original.save_pretrained(tmp_path / "m") / CARD).read_text()
    assert "unknown: this model was saved without a record of how it was trained" in card
    assert "the checkpoint it was trained as is unknown" in card and "`?`" not in card
    assert Captioner.from_pretrained(tmp_path / "m", device="cpu").trained.record is None


def test_hub_ids_with_a_revision_resolve_through_the_cache_offline(stores, inputs, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True, raising=False)
    original = Captioner.from_checkpoint(untrained_checkpoint("topdown", stores, tmp_path / "best.pt"), device="cpu")
    cache = hub_cache(original.save_pretrained(tmp_path / "saved"), tmp_path / "hub", repo="vidcap-test/td")
    (cache / "models--vidcap-test--td" / "refs" / "v1").write_text(COMMIT)
    for source, revision in [("vidcap-test/td", "v1"), ("hf:vidcap-test/td@v1", None),
                             ("hf:vidcap-test/td@v1", "v1"), ("vidcap-test/td", COMMIT)]:
        loaded = Captioner.from_pretrained(source, revision=revision, device="cpu", cache_dir=cache)
        assert loaded.source == f"model {source}"
        _same(original, loaded, inputs)
    with pytest.raises(InputError, match="no such checkpoint or model folder; as a Hub model: .*'v2'"):
        Captioner.from_pretrained("vidcap-test/td", revision="v2", cache_dir=cache)
    with pytest.raises(UsageError, match="names revision 'v1' and revision='v2'"):
        Captioner.from_pretrained("hf:vidcap-test/td@v1", revision="v2", cache_dir=cache)
    # a plain org/name that exists here is the local folder, not the Hub (nothing in the cache is asked)
    monkeypatch.chdir(tmp_path)
    original.save_pretrained(tmp_path / "vidcap-test" / "local")
    assert Captioner.from_pretrained("vidcap-test/local", device="cpu").source == "model folder vidcap-test/local"
    with pytest.raises(UsageError, match="a local path, which has no revisions"):
        Captioner.from_pretrained("vidcap-test/local", revision="v1")
    with pytest.raises(InputError, match="runs/a/best.pt: checkpoint not found"):
        Captioner.from_pretrained("runs/a/best.pt")  # not org/name: a missing file, not a Hub lookup


def test_from_checkpoint_sends_folders_to_from_pretrained(tmp_path):
    with pytest.raises(UsageError, match="load it with Captioner.from_pretrained"):
        Captioner.from_checkpoint(tmp_path)


def test_a_folders_odd_training_record_still_saves(stores, tmp_path):
    """The record is untrusted JSON carried into the next card: values of the wrong type are left out."""
    original = Captioner.from_checkpoint(untrained_checkpoint("mp-lstm", stores, tmp_path / "best.pt"), device="cpu")
    record = {"metrics": [1], "train": "x", "annotations": "abc", "features": 3, "epoch": 2}
    original.trained = dataclasses.replace(original.trained, record=record)
    folder = original.save_pretrained(tmp_path / "m")
    card = (folder / CARD).read_text()
    assert "No scores were recorded" in card and "- annotations" not in card and "- training" not in card
    assert Captioner.from_pretrained(folder, device="cpu").trained.record == record
