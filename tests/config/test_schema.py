"""The config schema (vidcap/config/schema.py): every key documented, each default read from the code that holds it,
model options from the constructors, and the shipped configs/*.yaml."""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from vidcap.config import schema
from vidcap.config.loading import BASE_KEY, config_files, defaults, keys, load_config
from vidcap.config.schema import MODEL_OPTIONS, ModelConfig, model_section, section_docs, specs
from vidcap.data import CaptionDataset, vocab
from vidcap.errors import UsageError
from vidcap.models import MODELS, all_options, get_model, greedy, list_models, model_options, sample
from vidcap.models.mp_lstm import MPLSTM
from vidcap.models.sa_lstm import SALSTM
from vidcap.registry import Registry
from vidcap.trained import model as trained
from vidcap.training.optim import lr_factor
from vidcap.training.scst import SelfCritical

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

REQUIRED = """data.annotations data.features data.streams data.frames data.min_count data.max_len data.normalize
data.deltas model.name model.cell model.hidden_size model.embed_size model.layers model.dropout
model.attention_size train.epochs train.batch_size train.lr train.weight_decay train.warmup_steps train.grad_clip
train.label_smoothing train.scheduled_sampling.max_prob train.scheduled_sampling.ramp_epochs train.amp
train.compile train.seed train.early_stop train.workers train.scst train.init eval.beam_size eval.max_len
eval.length_penalty eval.block_trigrams out device""".split()
MODEL_KEYS = [k for k in specs() if k.startswith("model.") and k != "model.name"]


# ------------------------------------------------------------------------------------------- the schema
def test_the_schema_has_every_required_key_documented():
    assert set(REQUIRED) <= set(specs()) and list(specs()) == keys()
    assert [k for k in keys() if k.startswith("train.scst_")]
    assert all(len(spec.doc) > 10 for spec in specs().values())
    assert set(section_docs()) == {"data", "model", "train", "train.scheduled_sampling", "eval"}
    nulls = {k for k in keys() if OmegaConf.select(OmegaConf.create(defaults()), k) is None}
    assert nulls == {k for k, spec in specs().items() if spec.nullable} == {"data.frames", "data.max_vocab",
                                                                              "train.init"}


def _schema_again(monkeypatch: pytest.MonkeyPatch):
    """vidcap/config/schema.py executed anew, as a separate module, so that it reads the code's defaults now."""
    spec = importlib.util.spec_from_file_location("vidcap_schema_again", schema.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses' annotations resolve in it
    spec.loader.exec_module(module)
    return module


def test_defaults_that_the_code_holds_are_read_from_it_not_copied(monkeypatch):
    # Change the defaults where the code writes them and build the schema again: every key that sets that code
    # follows, so none of these defaults is written a second time in the schema.
    changed = {"samples": 7, "baseline": "greedy", "temperature": 0.5, "max_len": 9, "bleu_weight": 0.25,
               "eos_word": False}
    assert changed.keys() == SelfCritical.__init__.__kwdefaults__.keys()
    monkeypatch.setattr(SelfCritical.__init__, "__kwdefaults__", changed)
    monkeypatch.setattr(lr_factor, "__kwdefaults__",
                        {**lr_factor.__kwdefaults__, "schedule": "step", "step_epochs": 2.5, "step_gamma": 0.1})
    monkeypatch.setattr(vocab, "MAX_LEN", 33)

    @dataclasses.dataclass(frozen=True)
    class LongerEval(trained.EvalSettings):  # a trained model's decoding defaults are EvalSettings'
        max_len: int = 33
    monkeypatch.setattr(trained, "EvalSettings", LongerEval)
    monkeypatch.setattr(MPLSTM.__init__, "__kwdefaults__", {**MPLSTM.__init__.__kwdefaults__, "layers": 3})
    with pytest.raises(TypeError, match="models mp-lstm and s2vt disagree on option layers: int = 3 and int = 1"):
        _schema_again(monkeypatch)
    monkeypatch.setattr(MPLSTM.__init__, "__kwdefaults__", {**MPLSTM.__init__.__kwdefaults__, "layers": 1,
                                                             "embed_activation": "relu"})
    again = _schema_again(monkeypatch).specs()
    assert {k.removeprefix("train.scst_"): again[k].default for k in again if k.startswith("train.scst_")} == changed
    assert [again[f"train.{k}"].default for k in ("schedule", "step_epochs", "step_gamma")] == ["step", 2.5, 0.1]
    assert again["data.max_len"].default == again["eval.max_len"].default == 33
    assert again["model.embed_activation"].default == "relu"
    assert specs()["train.scst_samples"].default == 5  # the package's own schema is untouched


def test_the_scst_keys_are_self_criticals_options():
    params = inspect.signature(SelfCritical, eval_str=True).parameters.values()
    options = {p.name: p.annotation for p in params if p.kind is p.KEYWORD_ONLY}
    assert {k.removeprefix("train.scst_"): spec.kind for k, spec in specs().items()
            if k.startswith("train.scst_")} == options


def test_caption_lengths_default_to_one_constant():
    # Every max_len default in the package (the schema's keys included) is vidcap.data.vocab.MAX_LEN or read from
    # code that uses it; none writes a number of its own.
    pattern = re.compile(r"max_len: int = (?:option\()?([\w.]+)")
    written = [f"{path.relative_to(ROOT)}: {m.group()}" for path in sorted((ROOT / "vidcap").rglob("*.py"))
               for m in pattern.finditer(path.read_text()) if m.group(1) not in ("MAX_LEN", "default_of", "_EVAL.max_len")]
    assert written == []
    assert len([m for path in (ROOT / "vidcap").rglob("*.py") for m in pattern.finditer(path.read_text())]) >= 6
    for code in (greedy, sample, CaptionDataset, SelfCritical, trained.EvalSettings):
        assert inspect.signature(code).parameters["max_len"].default == vocab.MAX_LEN, code


def test_every_default_passes_its_own_check():
    for key, spec in specs().items():
        assert spec.check(spec.default) == spec.default, key


def test_model_keys_are_the_constructors_parameters():
    taken = {option for name in list_models() for option in model_options(name)}
    assert {k.removeprefix("model.") for k in MODEL_KEYS} == taken == set(MODEL_OPTIONS)
    assert specs()["model.name"].choice_list() == list_models()


def _models(**extra) -> Registry:
    """The registered models, plus or instead of (same name) the builders in ``extra``."""
    models = Registry("model")
    for name, builder in {**{n: MODELS.get(n) for n in list_models()}, **extra}.items():
        models.register(name)(builder)
    return models


def test_model_defaults_and_types_are_read_from_the_constructors():
    # The schema writes no model default: change one in a constructor and the model section changes with it.
    relu = model_section(_models(**{"mp-lstm": functools.partial(MPLSTM, embed_activation="relu")}))
    fields = {f.name: f for f in dataclasses.fields(relu)}
    assert fields["embed_activation"].default == "relu" and specs()["model.embed_activation"].default == "none"
    assert {f.name: f.type for f in dataclasses.fields(ModelConfig)} == {
        "name": str, **{k: p.annotation for k, p in all_options().items()}}
    assert fields["hidden_size"].type is int and fields["dropout"].type is float and fields["cell"].type is str


def test_two_constructors_with_different_defaults_for_one_option_are_refused():
    wide = functools.partial(SALSTM, hidden_size=1024)  # sa-lstm's defaults, but a wider state
    with pytest.raises(TypeError, match=r"models mp-lstm and wide disagree on option hidden_size: "
                                        r"int = 512 and int = 1024"):
        model_section(_models(wide=wide))

    def textual(*, vocab_size: int, input_dims: dict, dropout: str = "0.5"):  # same value, other type
        raise AssertionError("never built")
    with pytest.raises(TypeError, match=r"disagree on option dropout: float = 0.5 and str = '0.5'"):
        all_options(_models(textual=textual))


def test_a_model_option_without_a_meaning_in_the_schema_is_refused():
    def wider(*, vocab_size: int, input_dims: dict, width: int = 3):
        raise AssertionError("never built")
    with pytest.raises(TypeError, match=r"model option\(s\) width have no entry in MODEL_OPTIONS"):
        model_section(_models(wider=wider))


def _just_outside(spec) -> list:
    step = 1 if spec.kind is int else 1e-3
    b = spec.bounds
    values = [b.ge - step if b.ge is not None else None, b.gt, b.le + step if b.le is not None else None, b.lt]
    return [spec.kind(v) for v in values if v is not None]


@pytest.mark.parametrize("key", [k for k in MODEL_KEYS if specs()[k].bounds or specs()[k].choices])
def test_model_ranges_and_choices_match_the_constructors(key):
    # Values just outside the schema's range are refused by every model that takes the option, in its own
    # terms; every one of the schema's choices builds.
    spec, option = specs()[key], key.removeprefix("model.")
    for name in [m for m in list_models() if option in model_options(m)]:
        for value in _just_outside(spec) if spec.bounds else []:
            assert value not in spec.bounds
            with pytest.raises(UsageError, match=rf"^{option} must"):
                get_model(name, vocab_size=10, input_dims={"frame": 4}, **{option: value})
        for choice in spec.choice_list() or []:
            get_model(name, vocab_size=10, input_dims={"frame": 4}, **{option: choice})


def test_shipped_configs_set_only_known_keys_of_their_model():
    for path in CONFIGS:
        cfg = load_config(path)
        assert cfg.model.name in list_models()
        assert path.read_text().splitlines()[0].startswith("# ")
        for part in config_files(path):  # the file and the bases it builds on
            written = set(keys(yaml.safe_load(part.read_text()))) - {BASE_KEY}
            assert written <= set(keys())
            taken = set(model_options(cfg.model.name))
            assert {k.removeprefix("model.") for k in written & set(MODEL_KEYS)} <= taken, part


def test_the_expected_configs_ship():
    assert {p.name for p in CONFIGS} >= {"mp_lstm_msrvtt.yaml", "s2vt_msrvtt.yaml", "sa_lstm_msrvtt.yaml",
                                         "sa_lstm_yolo_msrvtt.yaml", "sa_lstm_scst_msrvtt.yaml", "demo.yaml"}
    yolo = load_config(ROOT / "configs" / "sa_lstm_yolo_msrvtt.yaml")
    assert len(yolo.data.features) == 2 and "yolov8x/objects" in yolo.data.streams
    assert load_config(ROOT / "configs" / "sa_lstm_scst_msrvtt.yaml").train.scst is True
    demo = load_config(ROOT / "configs" / "demo.yaml")
    assert demo.data.normalize and demo.data.deltas and demo.train.amp == "off" and demo.model.attention_size == 64


def test_model_constructors_take_keyword_options_only():
    # model_options reads keyword-only parameters: a positional one would be invisible to the config.
    for name in list_models():
        params = inspect.signature(MODELS.get(name)).parameters.values()
        assert all(p.kind is p.KEYWORD_ONLY for p in params), name


def test_resumable_keys_are_the_trainers_and_exist_in_the_schema():
    from vidcap.training.resume import RESUMABLE

    schema = specs()
    assert RESUMABLE <= set(schema), RESUMABLE - set(schema)  # a renamed key must not drop out silently
    assert {k for k, s in schema.items() if s.resumable} == RESUMABLE


def test_the_layer_bound_is_the_models_and_the_configs_alike():
    # One bound, in vidcap.models.base: a config asking for more layers is refused as it loads, and a model file
    # (which never passes through the config) is refused by the constructor, before anything is built.
    from vidcap.models.base import MAX_LAYERS

    assert specs()["model.layers"].bounds.le == MAX_LAYERS
    load_config(None, [f"model.layers={MAX_LAYERS}"])
    with pytest.raises(UsageError, match=rf"^model\.layers=100000 \(override 'model.layers=100000'\): "
                                         rf"must be in \[1, {MAX_LAYERS}\]$"):
        load_config(None, ["model.layers=100000"])
    stacked = [name for name in list_models() if "layers" in model_options(name)]
    assert stacked  # mp-lstm, s2vt, sa-lstm
    for name in stacked:
        with pytest.raises(UsageError, match=f"layers must be at most {MAX_LAYERS}, got 100000"):
            get_model(name, vocab_size=9, input_dims={"frame": 4}, layers=100_000)
