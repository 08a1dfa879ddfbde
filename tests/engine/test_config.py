"""Training configuration (vidcap/engine/config.py, default.yaml) and the shipped configs/*.yaml."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from vidcap.engine.config import CHOICES, LIMITS, NULLABLE, defaults, keys, load_config, parse_override
from vidcap.errors import InputError, UsageError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
DEFAULT_YAML = ROOT / "vidcap" / "engine" / "default.yaml"

REQUIRED = """data.annotations data.features data.streams data.frames data.min_count data.max_len data.normalize
data.deltas model.name model.cell model.hidden_size model.embed_size model.layers model.dropout
model.attention_size train.epochs train.batch_size train.lr train.weight_decay train.warmup_steps train.grad_clip
train.label_smoothing train.scheduled_sampling.max_prob train.scheduled_sampling.ramp_epochs train.amp
train.compile train.seed train.early_stop train.workers train.scst train.init eval.beam_size eval.max_len
eval.length_penalty eval.block_trigrams out device""".split()


def test_defaults_have_every_required_key():
    assert set(REQUIRED) <= set(keys())
    assert [k for k in keys() if k.startswith("train.scst_")]


def test_every_default_key_is_documented():
    # Each key line of default.yaml carries a comment (a key alone on a line opens a section).
    lines = [ln for ln in DEFAULT_YAML.read_text().splitlines() if re.match(r"\s*[a-z_]+:", ln)]
    undocumented = [ln for ln in lines if "#" not in ln and not ln.rstrip().endswith(":")]
    assert undocumented == []
    assert len(lines) >= len(keys())


def test_null_defaults_declare_their_type():
    nulls = {k for k in keys() if OmegaConf.select(OmegaConf.create(defaults()), k) is None}
    assert nulls == set(NULLABLE)
    assert set(CHOICES) | set(LIMITS) <= set(keys())


def test_defaults_alone_load_and_are_struct():
    cfg = load_config(None)
    assert cfg.train.amp == "auto" and cfg.data.streams == ["frame"] and cfg.data.frames is None
    with pytest.raises(Exception):
        cfg.train.no_such_key  # noqa: B018  (struct mode: typos fail loudly)
    assert OmegaConf.to_container(cfg) == defaults()


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path):
    cfg = load_config(path)
    from vidcap.models import list_models

    assert cfg.model.name in list_models()
    header = path.read_text().splitlines()[0]
    assert header.startswith("# ")
    # A config is a small override of the defaults: everything it sets is a known key.
    assert set(keys(yaml.safe_load(path.read_text()))) <= set(keys())


def test_the_expected_configs_ship():
    assert {p.name for p in CONFIGS} >= {"mp_lstm_msrvtt.yaml", "s2vt_msrvtt.yaml", "sa_lstm_msrvtt.yaml",
                                         "sa_lstm_yolo_msrvtt.yaml", "sa_lstm_scst_msrvtt.yaml", "demo.yaml"}
    yolo = load_config(ROOT / "configs" / "sa_lstm_yolo_msrvtt.yaml")
    assert len(yolo.data.features) == 2 and "yolov8x/objects" in yolo.data.streams
    assert load_config(ROOT / "configs" / "sa_lstm_scst_msrvtt.yaml").train.scst is True
    demo = load_config(ROOT / "configs" / "demo.yaml")
    assert demo.data.normalize and demo.data.deltas and demo.train.amp == "off"


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 7\n  lr: 1e-3\nmodel:\n  cell: gru\n")
    cfg = load_config(path, ["train.epochs=3", "data.features=[a, b]", "out=runs/x", "train.init=null"])
    assert cfg.train.epochs == 3 and cfg.train.lr == 0.001 and cfg.model.cell == "gru"
    assert cfg.data.features == ["a", "b"] and cfg.out == "runs/x" and cfg.train.init is None
    assert cfg.train.batch_size == defaults()["train"]["batch_size"]


@pytest.mark.parametrize("override, key, value", [
    ("train.lr=1e-4", "train.lr", 1e-4),
    ("train.lr=1", "train.lr", 1.0),              # an int where a float is expected
    ("data.features=feats/", "data.features", ["feats/"]),  # one path for a list
    ("data.annotations=a.json", "data.annotations", ["a.json"]),
    ("train.amp=off", "train.amp", "off"),        # YAML's bare `off` is false
    ("train.amp=bf16", "train.amp", "bf16"),
    ("data.frames=16", "data.frames", 16),
    ("train.init=runs/a/best.pt", "train.init", "runs/a/best.pt"),
    ("train.scheduled_sampling.max_prob=0.25", "train.scheduled_sampling.max_prob", 0.25),
    ("train.scheduled_sampling={max_prob: 0.5}", "train.scheduled_sampling.max_prob", 0.5),
])
def test_overrides_are_typed(override, key, value):
    got = OmegaConf.to_container(load_config(None, [override]))
    for part in key.split("."):
        got = got[part]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("override, pattern", [
    ("train.epochs=abc", r"train\.epochs='abc' \(str\): expected an integer"),
    ("train.epochs=3.5", r"train\.epochs=3\.5 \(float\): expected an integer"),
    ("train.compile=yes please", r"train\.compile='yes please' \(str\): expected a boolean"),
    ("train.lr=fast", r"train\.lr='fast' \(str\): expected a number"),
    ("out=", r"out: null is not allowed; expected a string"),
    ("data.streams=[frame, 3]", r"data\.streams=.*every element must be a string; 3 is not"),
    ("train.amp=fp8", r"train\.amp='fp8': choose one of auto, bf16, fp16, off"),
    ("model.cell=rnn", r"model\.cell='rnn': choose one of lstm, gru"),
    ("train.epochs=0", r"train\.epochs=0: must be >= 1"),
    ("model.dropout=1", r"model\.dropout=1\.0: must be in \[0, 1\)"),
    ("train.scheduled_sampling=0.3", r"train\.scheduled_sampling=0\.3 .*expected a section"),
])
def test_bad_values_name_key_value_and_type(override, pattern):
    with pytest.raises(UsageError, match=pattern):
        load_config(None, [override])


def test_unknown_keys_list_the_valid_ones(tmp_path):
    with pytest.raises(UsageError) as err:
        load_config(None, ["train.epoch=3"])
    message = str(err.value)
    assert "unknown config key 'train.epoch'" in message and "Did you mean train.epochs?" in message
    assert all(k in message for k in ("train.batch_size", "train.lr", "train.scst"))
    with pytest.raises(UsageError, match="unknown config key 'optimizer'.*Valid keys in the top level: data, model"):
        load_config(None, ["optimizer.name=sgd"])
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden: 3\n")
    with pytest.raises(UsageError, match=rf"'model.hidden' \({re.escape(str(path))}\).*model.hidden_size"):
        load_config(path)


@pytest.mark.parametrize("item", ["train.epochs", "=3", "train..epochs=3", ".x=1"])
def test_malformed_overrides(item):
    with pytest.raises(UsageError, match="key=value"):
        parse_override(item)


def test_bad_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(InputError, match="bad.yaml: invalid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="list.yaml: a config file must be a mapping"):
        load_config(listing)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert OmegaConf.to_container(load_config(empty)) == defaults()


def test_interpolations_are_resolved_and_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("eval:\n  max_len: ${data.max_len}\nout: runs/${model.name}\n")
    cfg = load_config(path, ["data.max_len=12"])
    assert cfg.eval.max_len == 12 and cfg.out == "runs/sa-lstm"
    path.write_text("eval:\n  max_len: ${model.name}\n")
    with pytest.raises(UsageError, match="eval.max_len='sa-lstm'"):
        load_config(path)
    path.write_text("out: ${nowhere.key}\n")
    with pytest.raises(UsageError, match="interpolation"):
        load_config(path)
