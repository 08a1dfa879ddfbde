"""TrainedModel, the one type a trained model is: checkpoint → TrainedModel → model folder → TrainedModel →
checkpoint is exact for every registered model (logits, stream order, vocabulary, eval settings, training
record); TrainedModel.load dispatches on what its source is; the trainer writes and reads its checkpoints
through it; the config's eval defaults are EvalSettings'."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from exportkit import COMMIT, hub_cache, untrained_checkpoint

from vidcap.config.schema import specs
from vidcap.data import collate
from vidcap.errors import InputError, UsageError
from vidcap.models import list_models
from vidcap.trained.checkpoint import load_checkpoint
from vidcap.trained.folder import CONFIG
from vidcap.trained.model import EVAL_LIMITS, EvalSettings, TrainedModel
from vidcap.training.trainer import train

# what untrained_checkpoint records: none of them the defaults, so a default taken anywhere on the way shows
SETTINGS = EvalSettings(beam_size=2, max_len=6, length_penalty=0.0, block_trigrams=False, allow_unk=False,
                        batch_size=8)


def _logits(trained: TrainedModel) -> torch.Tensor:
    """The model's logits for fixed random inputs of its streams (3 frames; 2 object slots, one empty)."""
    rng = np.random.default_rng(0)
    feats, masks = {}, {}
    for name, dims in trained.input_dims.items():
        shape = (3, *dims) if isinstance(dims, (list, tuple)) else (3, dims)
        feats[name] = rng.normal(size=shape).astype(np.float32)
        masks[name] = np.ones(shape[:-1], dtype=bool)
        if masks[name].ndim == 2:
            masks[name][:, -1] = False
    batch = collate([{"id": "x", "feats": feats, "masks": masks}])
    with torch.no_grad():
        return trained.model.eval()(batch.feats, batch.masks, torch.tensor([[1, 4, 5, 6, 2]]))


def _same(a: TrainedModel, b: TrainedModel) -> None:
    assert list(b.input_dims.items()) == list(a.input_dims.items())  # the order the streams are read in
    assert torch.equal(_logits(b), _logits(a))
    assert b.eval == a.eval and b.record == a.record and b.frames == a.frames
    assert b.vocab.state_dict() == a.vocab.state_dict() and b.streams == a.streams and b.specs == a.specs


@pytest.mark.parametrize("name", list_models())
def test_checkpoint_folder_checkpoint_round_trip_is_exact_for_every_model(name, stores, tmp_path):  # noqa: F811
    first = TrainedModel.from_checkpoint(untrained_checkpoint(name, stores, tmp_path / "best.pt"))
    assert first.eval == SETTINGS and first.record["checkpoint"] == "best.pt" and first.record["epoch"] == 0
    folder = TrainedModel.from_folder(first.save_folder(tmp_path / "a" / "model"))
    _same(first, folder)
    again = TrainedModel.from_checkpoint(folder.save_checkpoint(tmp_path / "again" / "best.pt"))
    _same(first, again)
    # a folder shares its stores' weights by identity only (extra.weights); a checkpoint keeps what it is given
    assert again.stores == folder.stores != first.stores
    # the model part of the checkpoint format holds it all: both write the same folder
    again.save_folder(tmp_path / "b" / "model")
    assert (tmp_path / "b" / "model" / CONFIG).read_bytes() == (tmp_path / "a" / "model" / CONFIG).read_bytes()


def test_a_model_without_a_training_record_round_trips_without_one(stores, tmp_path):  # noqa: F811
    trained = TrainedModel.from_checkpoint(untrained_checkpoint("mp-lstm", stores, tmp_path / "best.pt"))
    bare = dataclasses.replace(trained, record=None)
    back = TrainedModel.from_checkpoint(bare.save_checkpoint(tmp_path / "bare.pt"))
    assert back.record is None and back.eval == SETTINGS
    assert TrainedModel.from_folder(back.save_folder(tmp_path / "m")).record is None
    assert torch.equal(_logits(back), _logits(trained))


def test_load_dispatches_on_what_the_source_is(stores, tmp_path, monkeypatch):  # noqa: F811
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True, raising=False)
    ckpt = untrained_checkpoint("s2vt", stores, tmp_path / "best.pt")
    first = TrainedModel.load(ckpt)
    folder = first.save_folder(tmp_path / "model")
    cache = hub_cache(folder, tmp_path / "hub", repo="vidcap-test/s2vt")
    (cache / "models--vidcap-test--s2vt" / "refs" / "v1").write_text(COMMIT)
    loaded = {f"checkpoint {ckpt}": TrainedModel.load(ckpt), f"model folder {folder}": TrainedModel.load(folder),
              "model hf:vidcap-test/s2vt@v1": TrainedModel.load("hf:vidcap-test/s2vt@v1", cache_dir=cache),
              "model vidcap-test/s2vt": TrainedModel.load("vidcap-test/s2vt", revision=COMMIT, cache_dir=cache)}
    for source, trained in loaded.items():
        assert trained.source == source
        _same(first, trained)
    with pytest.raises(UsageError, match="a local path, which has no revisions"):
        TrainedModel.load(folder, revision="v1")
    with pytest.raises(InputError, match="no such checkpoint or model folder; as a Hub model: .*'v2'"):
        TrainedModel.load("vidcap-test/s2vt", revision="v2", cache_dir=cache)
    # a source that is none of them is named, with the forms a source takes
    with pytest.raises(InputError, match=r"^runs/x/best\.pt: checkpoint not found, nor a model folder or a Hub"):
        TrainedModel.load("runs/x/best.pt")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="notes.txt: not a vidcap checkpoint"):
        TrainedModel.load(tmp_path / "notes.txt")


def test_eval_settings_are_checked_and_override_only_the_beam(stores, tmp_path):  # noqa: F811
    assert SETTINGS.decoding(beam_size=7) == {**SETTINGS.to_dict(), "beam_size": 7}
    assert EvalSettings.from_dict({}, "old.pt") == EvalSettings()  # keys a file lacks take the defaults
    assert EvalSettings.from_dict({**SETTINGS.to_dict(), "future_key": 1}, "new.pt") == SETTINGS
    with pytest.raises(UsageError, match="beam size 0"):
        SETTINGS.decoding(beam_size=0)
    for key, value in [("beam_size", 101), ("batch_size", True), ("length_penalty", float("inf")),
                       ("allow_unk", "yes")]:
        with pytest.raises(InputError, match=f"^m.pt: eval.{key} = "):
            EvalSettings.from_dict({key: value}, "m.pt")


def test_the_configs_eval_section_is_eval_settings():
    keys = {k.removeprefix("eval."): spec for k, spec in specs().items() if k.startswith("eval.")}
    assert list(keys) == [f.name for f in dataclasses.fields(EvalSettings)]
    for name, spec in keys.items():
        assert spec.default == getattr(EvalSettings(), name), name
        if name in EVAL_LIMITS:  # a run cannot write a model its captioner would refuse
            assert (spec.bounds.ge, spec.bounds.le) == EVAL_LIMITS[name], name


def test_the_trainer_writes_and_reads_checkpoints_through_trained_model(tiny_cfg, tmp_path):
    cfg = tiny_cfg("train.epochs=2", "eval.beam_size=3", "eval.block_trigrams=true")
    train(cfg)
    best = tmp_path / "run" / "best.pt"
    trained = TrainedModel.load(best)
    assert trained.eval == EvalSettings.from_dict(dict(cfg.eval), "config") and trained.eval.beam_size == 3
    assert trained.source == f"checkpoint {best}" and trained.record["epoch"] in (1, 2)
    assert trained.streams == ["frame"] and trained.frames == cfg.data.frames
    # what the trainer wrote is exactly the model part of the format, given the run's config
    written = load_checkpoint(best)
    again = trained.checkpoint_payload(written["config"])
    assert sorted(written) == sorted([*again, "format", "vidcap_version"])
    assert json.dumps({k: again[k] for k in ("config", "epoch", "metrics")}, sort_keys=True) == \
        json.dumps({k: written[k] for k in ("config", "epoch", "metrics")}, sort_keys=True)
    assert written["model"]["config"] == again["model"]["config"]
    assert all(torch.equal(written["model"]["state"][k], v) for k, v in again["model"]["state"].items())
    # starting a run from it checks its weights against the configured model, naming both
    bigger = tiny_cfg(f"train.init={best}", "model.hidden_size=48", out=tmp_path / "bigger")
    with pytest.raises(InputError, match=rf"checkpoint {best}: tensor '.*' is float32 \[.*\], the configured "
                                         r"sa-lstm model needs float32"):
        train(bigger)
    assert not (tmp_path / "bigger").exists()
