"""Loading training configs (vidcap/config/loading.py): files, overrides, `_base_` and unsetting, `vidcap config show`."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vidcap.cli import main
from vidcap.config.loading import (MAX_BASE_DEPTH, MAX_CONFIG_FILES, config_files, defaults, describe, load_config,
                                   parse_override)
from vidcap.config.schema import specs
from vidcap.errors import InputError, UsageError, keyed_error
from vidcap.models import MODELS, model_options
from vidcap.training.rundata import build_model, model_kwargs

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

MODEL_KEYS = [k for k in specs() if k.startswith("model.") and k != "model.name"]


# ----------------------------------------------------------------------------------------------- loading
def test_defaults_alone_load_typed_and_struct():
    cfg = load_config(None)
    assert cfg.train.amp == "auto" and cfg.data.streams == ["frame"] and cfg.data.frames is None
    assert OmegaConf.to_container(cfg) == defaults()
    with pytest.raises(OmegaConfBaseException):
        cfg.train.no_such_key  # noqa: B018  (struct mode: typos fail loudly)
    with pytest.raises(OmegaConfBaseException):
        cfg.train.epochs = "many"  # typed by the schema after loading too


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
    ("train.amp=fp32", "train.amp", "fp32"),      # the one vocabulary (vidcap.precision); off says the same
    ("data.frames=16", "data.frames", 16),
    ("train.init=runs/a/best.pt", "train.init", "runs/a/best.pt"),
    ("train.scheduled_sampling.max_prob=0.25", "train.scheduled_sampling.max_prob", 0.25),
    ("train.scheduled_sampling={max_prob: 0.5}", "train.scheduled_sampling.max_prob", 0.5),
    ("model.name=s2vt", "model.name", "s2vt"),
])
def test_overrides_are_typed(override, key, value):
    got = OmegaConf.to_container(load_config(None, [override]))
    for part in key.split("."):
        got = got[part]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("override, pattern", [
    ("train.epochs=abc", r"train\.epochs='abc' \(override 'train\.epochs=abc'\): expected an integer, got a str"),
    ("train.epochs=3.5", r"train\.epochs=3\.5 .*: expected an integer, got a float"),
    ("train.compile=yes please", r"train\.compile='yes please' .*: expected a boolean"),
    ("train.lr=fast", r"train\.lr='fast' .*: expected a number"),
    ("out=", r"override 'out=': no value; to unset out \(back to its default\) write out=null or ~out"),
    ("data.streams=[frame, 3]", r"data\.streams=.*every element must be a string; 3 is not"),
    ("train.amp=fp8", r"train\.amp='fp8' .*: choose one of auto, fp32, bf16, fp16, off"),
    ("model.cell=lstn", r"model\.cell='lstn' .*: choose one of lstm, gru \(did you mean lstm\?\)"),
    ("model.name=sa_lstm", r"model\.name='sa_lstm' .*: choose one of mp-lstm, s2vt, sa-lstm, topdown \(did you mean sa-lstm"),
    ("train.epochs=0", r"train\.epochs=0 .*: must be >= 1"),
    ("model.dropout=1", r"model\.dropout=1 .*: must be in \[0, 1\)"),
    ("train.lr=0", r"train\.lr=0 .*: must be in \(0, 1\]"),
    ("train.scheduled_sampling=0.3", r"train\.scheduled_sampling=0\.3 .*expected a section"),
])
def test_bad_values_name_key_value_and_source(override, pattern):
    with pytest.raises(UsageError, match=pattern):
        load_config(None, [override])


def test_bad_values_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("eval:\n  beam_size: 0\n")
    # eval.* bounds are EvalSettings' (vidcap.trained.model.EVAL_LIMITS): what a trained model may carry
    with pytest.raises(UsageError, match=rf"^eval\.beam_size=0 \({re.escape(str(path))}\): must be in \[1, 100\]$"):
        load_config(path)


def test_unknown_keys_list_the_valid_ones(tmp_path):
    with pytest.raises(UsageError) as err:
        load_config(None, ["train.epoch=3"])
    message = str(err.value)
    assert "unknown config key 'train.epoch'" in message and "Did you mean train.epochs?" in message
    assert all(k in message for k in ("train.batch_size", "train.lr", "train.scst"))
    with pytest.raises(UsageError, match="unknown config key 'optimizer'.*Valid keys in the top level: data, model"):
        load_config(None, ["optimizer.name=sgd"])
    with pytest.raises(UsageError, match="'model.att_size'.*Did you mean model.attention_size"):
        load_config(None, ["model.att_size=64"])  # the constructor's old name
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden: 3\n")
    with pytest.raises(UsageError, match=rf"'model.hidden' \({re.escape(str(path))}\).*model.hidden_size"):
        load_config(path)


def test_options_of_another_model_are_refused_not_dropped(tmp_path):
    with pytest.raises(UsageError) as err:
        load_config(None, ["model.name=mp-lstm", "model.attention_size=256"])  # even at the default value
    assert str(err.value).startswith("model.attention_size=256 (override 'model.attention_size=256'): model "
                                     "mp-lstm does not take attention_size (an option of sa-lstm, topdown)")
    with pytest.raises(UsageError, match=r"model\.attention_size=64 \(.*demo\.yaml\): model s2vt does not take"):
        load_config(ROOT / "configs" / "demo.yaml", ["model.name=s2vt"])
    # Not set: the section's other options stay at their defaults and the model never sees them.
    cfg = load_config(None, ["model.name=mp-lstm"])
    assert cfg.model.attention_size == 256 and "attention_size" not in model_kwargs("mp-lstm", cfg.model)
    assert model_kwargs("sa-lstm", load_config(None, ["model.attention_size=8"]).model)["attention_size"] == 8


# ----------------------------------------------------------------------------------- _base_ and unsetting
def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_a_config_builds_on_its_bases_left_to_right_then_its_own_keys(tmp_path):
    _write(tmp_path, "bases/a.yaml", "model: {name: sa-lstm, hidden_size: 64, attention_size: 16}\ntrain: {lr: 0.1}\n")
    _write(tmp_path, "bases/b.yaml", "_base_: a.yaml\ntrain: {lr: 0.2, epochs: 3}\n")  # relative to b.yaml
    _write(tmp_path, "c.yaml", "train: {epochs: 4, batch_size: 5}\n")
    top = _write(tmp_path, "top.yaml", "_base_: [bases/b.yaml, c.yaml]\ntrain: {batch_size: 6}\n")
    cfg = load_config(top, ["train.seed=9"])
    assert (cfg.model.hidden_size, cfg.model.attention_size) == (64, 16)  # from a, through b
    assert (cfg.train.lr, cfg.train.epochs, cfg.train.batch_size, cfg.train.seed) == (0.2, 4, 6, 9)
    assert [p.name for p in config_files(top)] == ["a.yaml", "b.yaml", "c.yaml", "top.yaml"]
    # Errors in a base name that base; the checks run on the merged result.
    _write(tmp_path, "c.yaml", "train: {epoch: 4}\n")
    with pytest.raises(UsageError, match=r"'train.epoch' \(.*c\.yaml\)\. Did you mean train\.epochs\?"):
        load_config(top)
    _write(tmp_path, "c.yaml", "model: {name: s2vt}\n")  # a.yaml's attention_size is not s2vt's
    with pytest.raises(UsageError, match=r"model\.attention_size=16 \(.*a\.yaml\): model s2vt does not take"):
        load_config(top)
    _write(tmp_path, "c.yaml", "model: {name: s2vt, attention_size: null}\n")  # ... unless it unsets it
    assert load_config(top).model.attention_size == 256


@pytest.mark.parametrize("files, top, pattern", [
    ({"a.yaml": "_base_: a.yaml\n"}, "a.yaml", r"a\.yaml: config files name each other as _base_ in a cycle "
                                                r"\(.*a\.yaml -> .*a\.yaml\)"),
    ({"a.yaml": "_base_: b.yaml\n", "b.yaml": "_base_: [c.yaml]\n", "c.yaml": "_base_: ./a.yaml\n"}, "a.yaml",
     r"in a cycle \(.*a\.yaml -> .*b\.yaml -> .*c\.yaml -> .*a\.yaml\)"),
    ({"a.yaml": "_base_: [b.yaml, nope.yaml]\n", "b.yaml": "{}\n"}, "a.yaml",
     r"a\.yaml: _base_ 'nope\.yaml': .*nope\.yaml is not a file"),
    ({"a.yaml": "_base_: sub\n", "sub/x.yaml": "{}\n"}, "a.yaml", r"_base_ 'sub': .*sub is not a file"),
    ({"a.yaml": "_base_: /dev/zero\n"}, "a.yaml", r"_base_ '/dev/zero': /dev/zero is not a file"),  # endless
    ({"a.yaml": "_base_: b.yaml\n", "b.yaml": "- just\n- a list\n"}, "a.yaml",
     r"b\.yaml: a config file must be a mapping"),
    ({"a.yaml": "_base_: {x: 1}\n"}, "a.yaml", r"a\.yaml: _base_ must be a config file name or a list"),
    ({"a.yaml": "_base_: []\n"}, "a.yaml", r"_base_ must be a config file name or a list"),
    ({"a.yaml": "_base_: [b.yaml, 3]\n", "b.yaml": "{}\n"}, "a.yaml", r"_base_ must be"),
    ({"a.yaml": "model: {_base_: b.yaml}\n", "b.yaml": "{}\n"}, "a.yaml", r"unknown config key 'model\._base_'"),
    ({f"{i}.yaml": f"_base_: {i + 1}.yaml\n" for i in range(MAX_BASE_DEPTH + 1)} | {f"{MAX_BASE_DEPTH + 1}.yaml": "{}"},
     "0.yaml", rf"more than {MAX_BASE_DEPTH} levels of _base_"),
])
def test_hostile_bases_are_input_errors_naming_the_files(tmp_path, files, top, pattern):
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises((InputError, UsageError), match=pattern):
        load_config(tmp_path / top)


def test_bases_that_multiply_are_refused(tmp_path):
    # Each level names the next one ten times: 10**6 reads in six levels, refused after a hundred.
    for i in range(6):
        _write(tmp_path, f"{i}.yaml", f"_base_: [{', '.join([f'{i + 1}.yaml'] * 10)}]\n")
    _write(tmp_path, "6.yaml", "train: {epochs: 3}\n")
    with pytest.raises(InputError, match=rf"name more than {MAX_CONFIG_FILES} files in all"):
        load_config(tmp_path / "0.yaml")


def test_a_chain_of_max_depth_loads(tmp_path):
    for i in range(MAX_BASE_DEPTH):
        _write(tmp_path, f"{i}.yaml", f"_base_: {i + 1}.yaml\ntrain: {{epochs: {i + 1}}}\n")
    _write(tmp_path, f"{MAX_BASE_DEPTH}.yaml", "train: {epochs: 99, lr: 0.5}\n")
    cfg = load_config(tmp_path / "0.yaml")
    assert (cfg.train.epochs, cfg.train.lr) == (1, 0.5)
    # The same file twice (a diamond) is no cycle.
    _write(tmp_path, "d.yaml", "_base_: [1.yaml, 2.yaml]\n")
    assert load_config(tmp_path / "d.yaml").train.epochs == 3


def test_unset_is_back_to_the_default_and_set_by_nobody(tmp_path):
    demo = ROOT / "configs" / "demo.yaml"
    with pytest.raises(UsageError, match=r"model topdown does not take encoder .* Unset it with the override "
                                         r"~model\.encoder \(or model\.encoder=null\)"):
        load_config(demo, ["model.name=topdown"])
    for unset in ("~model.encoder", "model.encoder=null"):
        cfg = load_config(demo, ["model.name=topdown", unset])
        assert cfg.model.encoder == defaults()["model"]["encoder"] and cfg.model.attention_size == 64
        assert "encoder" not in model_kwargs("topdown", cfg.model)  # not passed to the constructor
        model = build_model(cfg, vocab_size=20, input_dims={"frame": 8, "bilinear": 8})
        assert isinstance(model, MODELS.get("topdown"))
    # A train key goes back to its default; a section unsets every key in it; unset then set is set.
    assert load_config(demo, ["~train.lr"]).train.lr == defaults()["train"]["lr"]
    cfg = load_config(demo, ["~train", "train.epochs=2"])
    assert cfg.train.epochs == 2 and cfg.train.batch_size == defaults()["train"]["batch_size"]
    assert load_config(demo, ["~model", "model.name=s2vt"]).model.name == "s2vt"  # attention_size 64 gone
    assert load_config(demo, ["train.init=null"]).train.init is None
    # A file unsets what its base set.
    _write(tmp_path, "t.yaml", f"_base_: {demo}\nmodel: {{name: topdown, encoder: null}}\ntrain: {{lr: null}}\n")
    cfg = load_config(tmp_path / "t.yaml")
    assert cfg.model.name == "topdown" and cfg.train.lr == defaults()["train"]["lr"] and cfg.train.epochs == 12


@pytest.mark.parametrize("item, pattern", [
    ("~model.encodr",
     r"unknown config key 'model\.encodr' \(override '~model\.encodr'\)\. Did you mean model\.encoder"),
    ("~train.lr.x", r"override '~train\.lr\.x': train\.lr is a key, not a section"),
    ("~train.lr=1", r"expected ~key"), ("~", r"expected ~key"), ("~a..b", r"expected ~key"),
    ("~nope", r"unknown config key 'nope'"),
])
def test_malformed_unsets(item, pattern):
    with pytest.raises(UsageError, match=pattern):
        load_config(None, [item])


@pytest.mark.slow  # two fresh vidcap processes, about 4 s each alone (importing torch)
def test_cli_config_show_turns_the_demo_config_into_topdown():
    demo = str(ROOT / "configs" / "demo.yaml")
    run = [sys.executable, "-m", "vidcap", "config", "show", demo, "model.name=topdown"]
    refused = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert refused.returncode == 2 and "model topdown does not take encoder" in refused.stderr
    shown = subprocess.run([*run, "~model.encoder"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^  name: topdown ", shown.stdout, re.M)
    assert re.search(r"^  attention_size: 64 ", shown.stdout, re.M)
    assert re.search(r"^  # encoder: lstm +# str: lstm \| none; topdown does not take it", shown.stdout, re.M)


def test_cli_config_show_shows_the_merged_config(capsys):
    assert main(["config", "show", str(ROOT / "configs" / "sa_lstm_scst_msrvtt.yaml")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  embed_size: 468 ", out, re.M) and re.search(r"^  references: sample ", out, re.M)
    assert re.search(r"^  scst: true ", out, re.M) and "_base_" not in out
    assert main(["config", "show", "~train.lr"]) == 0  # an unset, not a config file
    assert re.search(r"^  lr: 0.0002 ", capsys.readouterr().out, re.M)


def test_a_model_option_the_schema_lacks_is_an_error():
    section = {k: v for k, v in defaults()["model"].items() if k != "attention_size"}
    with pytest.raises(UsageError, match="model sa-lstm takes attention_size, which the config schema has no key"):
        model_kwargs("sa-lstm", section)


def test_model_errors_get_their_config_key():
    cfg = load_config(None, ["model.hidden_size=8", "model.embed_size=8", "model.attention_size=8"])
    assert isinstance(build_model(cfg, vocab_size=10, input_dims={"frame": 4}), MODELS.get("sa-lstm"))
    cfg.model.hidden_size = 0  # past the schema's check: the model's own
    with pytest.raises(UsageError, match=r"^model\.hidden_size=0: hidden_size must be a positive integer, got 0$"):
        build_model(cfg, vocab_size=10, input_dims={"frame": 4})
    cfg.model.hidden_size, cfg.model.cell = 8, "rnn"
    with pytest.raises(UsageError, match=r"^model\.cell='rnn': unknown cell 'rnn'; choose one of"):
        build_model(cfg, vocab_size=10, input_dims={"frame": 4})
    cfg.model.cell = "lstm"
    with pytest.raises(UsageError, match=r"^model: sa-lstm needs at least one frame-like stream"):
        build_model(cfg, vocab_size=10, input_dims={"objects": (3, 4)})
    assert str(keyed_error(UsageError("layers must be >= 1"), "model", {"layers": 0})) == "model.layers=0: layers must be >= 1"


@pytest.mark.parametrize("item", ["train.epochs", "=3", "train..epochs=3", ".x=1"])
def test_malformed_overrides(item):
    with pytest.raises(UsageError, match="key=value"):
        parse_override(item)


def test_bad_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(InputError, match="bad.yaml: line 2: invalid YAML"):
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


# ------------------------------------------------------------------------------------- vidcap config show
@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_describe_lists_every_key_and_loads_back(path, tmp_path):
    cfg = load_config(path)
    text = describe(cfg)
    flat = re.sub(r"\n {10,}# ", " ", text)  # each key's wrapped comment on one line
    for key, spec in specs().items():
        lines = [ln for ln in flat.splitlines() if re.match(rf"\s*(# )?{key.rsplit('.', 1)[-1]}: ", ln)]
        assert any(spec.type_text() in ln and ln.endswith(f"-- {spec.doc}") for ln in lines), key
    # The text is a config: it gives back the same values (other models' options are commented out).
    again = tmp_path / "shown.yaml"
    again.write_text(text)
    assert OmegaConf.to_container(load_config(again)) == OmegaConf.to_container(cfg)
    for key in MODEL_KEYS:
        option = key.removeprefix("model.")
        commented = re.search(rf"^  # {option}: ", text, re.M) is not None
        assert commented == (option not in model_options(cfg.model.name)), key


def test_describe_marks_values_that_differ_from_the_default():
    text = describe(load_config(None, ["train.epochs=3"]))
    assert re.search(r"^  epochs: 3 +# int >= 1; default 30 -- passes over the training items$", text, re.M)
    assert re.search(r"^  batch_size: 64 +# int >= 1 -- global batch size", text, re.M)
    assert re.search(r"^  attention_size: 256 +# int >= 1; taken by sa-lstm, topdown -- hidden size", text, re.M)


def test_cli_config_show_and_train_help(capsys):
    assert main(["config", "show", str(ROOT / "configs" / "s2vt_msrvtt.yaml"), "train.epochs=4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  name: s2vt ", out, re.M) and re.search(r"^  epochs: 4 ", out, re.M)
    assert re.search(r"^  # attention_size: 256 +# int >= 1; s2vt does not take it", out, re.M)
    assert main(["config", "show", "train.epochs=2"]) == 0 and re.search(r"^  epochs: 2 ", capsys.readouterr().out, re.M)
    assert main(["config", "show", "train.epoch=2"]) == 2
    assert "Did you mean train.epochs?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "vidcap config show" in capsys.readouterr().out
