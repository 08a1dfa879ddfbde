"""The training configuration schema: every key, with its type, default, allowed values and meaning.

This module is the single source of the config's keys: :func:`vidcap.config.loading.load_config` checks
files and overrides against it, ``vidcap config show`` prints it, and ``OmegaConf.structured(Config)``
types the loaded config. Adding a key is one :func:`option` line in the section's dataclass; its type
comes from the annotation (``int``, ``float``, ``bool``, ``str``, ``Optional[...]`` for a key that also
takes null, ``List[str]``), its allowed values from ``choices`` and a range from ``ge``/``gt``/``le``/``lt``.

The ``model`` section holds the options of every registered model under the names of their
constructors' parameters (``model.attention_size`` is ``SALSTM(attention_size=...)``), with the
constructors' defaults and types (:func:`model_section`); a config may set only the options the chosen
``model.name`` takes (anything else is a usage error naming the key). Other defaults that code also
needs are read from that code too (the SCST keys from :class:`~vidcap.training.scst.SelfCritical`'s
signature, caption lengths from :data:`vidcap.data.vocab.MAX_LEN`), so each is written once.

Example:
    >>> spec = specs()["model.dropout"]
    >>> spec.default, spec.type_text(), spec.doc
    (0.5, 'float in [0, 1)', 'dropout on embeddings, features and decoder outputs (0 = none)')
    >>> spec.check(0.3), str(spec.bounds)
    (0.3, 'in [0, 1)')
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, List, Mapping, Optional, Sequence, Union

from vidcap.data.annotations import SPLITS
from vidcap.data.dataset import REFERENCE_MODES
from vidcap.data.vocab import MAX_LEN
from vidcap.errors import UsageError
from vidcap.inference.generate import MONITORS
from vidcap.models import CELLS, MODELS, all_options
from vidcap.models.base import MAX_LAYERS
from vidcap.models.mp_lstm import EMBED_ACTIVATIONS
from vidcap.models.sa_lstm import ENCODERS, INIT_STATES
from vidcap.precision import choices as precision_choices
from vidcap.registry import Registry, closest
from vidcap.trained.model import EVAL_LIMITS, EvalSettings
from vidcap.training.optim import CLIPPERS, OPTIMIZERS, SCHEDULES, lr_factor
from vidcap.training.resume import RESUMABLE
from vidcap.training.scst import BASELINES, SelfCritical

__all__ = ["MODEL_OPTIONS", "Bounds", "Config", "KeySpec", "default_of", "model_section", "option", "section",
           "section_docs", "specs"]

# A key's values: a list, a registry (its names, read when listed: a name registered later counts), or a function.
Choices = Union[Sequence[str], Mapping[str, Any], Callable[[], Sequence[str]]]


@dataclass(frozen=True)
class Bounds:
    """A numeric range: ``ge``/``gt`` below, ``le``/``lt`` above (None: open on that side).

    Example:
        >>> b = Bounds(ge=0, lt=1)
        >>> 0.5 in b, 1 in b, str(b)
        (True, False, 'in [0, 1)')
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def __contains__(self, value: float) -> bool:
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def __str__(self) -> str:
        low = self.ge if self.gt is None else self.gt
        high = self.le if self.lt is None else self.lt
        if low is not None and high is not None:
            return f"in {'(' if self.gt is not None else '['}{low}, {high}{')' if self.lt is not None else ']'}"
        if low is not None:
            return f"{'>' if self.gt is not None else '>='} {low}"
        return f"{'<' if self.lt is not None else '<='} {high}"


def option(default: Any, doc: str, *, choices: Choices | None = None, ge: float | None = None,
           gt: float | None = None, le: float | None = None, lt: float | None = None,
           one_or_more: bool = False) -> Any:
    """A config key of a section dataclass: its default, its meaning, and the values it takes.

    ``choices`` is a list of names or a function returning them (a registry's names); ``one_or_more``
    lets a list key take a single string too. Which keys may change when a run is resumed is the trainer's
    to say (:data:`vidcap.training.resume.RESUMABLE`), not an option here.

    Example:
        >>> @dataclass
        ... class Tiny:
        ...     width: int = option(8, "channels", ge=1)
        >>> dataclasses.fields(Tiny)[0].metadata["doc"]
        'channels'
    """
    bounds = Bounds(ge, gt, le, lt) if (ge, gt, le, lt) != (None,) * 4 else None
    meta = {"doc": doc, "choices": choices, "bounds": bounds, "one_or_more": one_or_more}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def default_of(code: Callable[..., Any], parameter: str) -> Any:
    """The default of ``parameter`` in the signature of ``code``, for a key that sets that parameter: the code
    holds the one default and the schema reads it, so the two cannot drift apart.

    Example:
        >>> default_of(SelfCritical, "baseline")
        'mean'
    """
    param = inspect.signature(code).parameters[parameter]
    if param.default is param.empty:
        raise TypeError(f"{code.__qualname__}({parameter}=...) has no default for the schema to read")
    return param.default


def section(cls: type, doc: str) -> Any:
    """A nested section (a dataclass of options) with its meaning."""
    return field(default_factory=cls, metadata={"doc": doc})


@dataclass
class DataConfig:
    annotations: List[str] = option([], "MSR-VTT-schema annotation files (videodatainfo.json)", one_or_more=True)
    features: List[str] = option(
        [], "feature store folder(s) made by `vidcap extract`; several stores are combined and their streams "
        "prefixed with the backbone name (resnet152/frame, yolov8x/objects)", one_or_more=True)
    streams: List[str] = option(
        ["frame"], "model input streams; with several stores a plain name takes it from every store that has "
        "it (frame), a prefixed one from that store only (yolov8x/objects)", one_or_more=True)
    frames: Optional[int] = option(None, "use at most this many stored frames per video (uniformly spread); "
                                   "null = all", ge=1)
    min_count: int = option(2, "words seen fewer times in the training captions become <unk>", ge=1)
    max_vocab: Optional[int] = option(None, "keep at most this many words (most frequent first); null = no limit",
                                      ge=1)
    max_len: int = option(MAX_LEN, "training captions are cut to this many words (BOS/EOS not counted)", ge=1)
    references: str = option("all", "all: every (video, reference) pair each epoch; sample: one random "
                             "reference per video", choices=REFERENCE_MODES)
    normalize: bool = option(True, "standardise features with the training split's per-dimension mean and std")
    deltas: bool = option(False, "append temporal differences (frame t minus frame t-1) to frame-like streams")
    delta_streams: List[str] = option([], "the frame-like streams to difference when deltas is on; [] = all")
    whiten: int = option(0, ">0: PCA-whiten each stream larger than this onto its top-N principal components "
                         "(fit on the training split, after normalize; stored in the checkpoint); 0 = off", ge=0)
    whiten_streams: List[str] = option([], "the streams to whiten (each must be larger than whiten); [] = every "
                                       "stream larger")
    allow_missing: bool = option(False, "skip videos without features instead of stopping with an error")
    cache_mb: int = option(1024, "keep this many MB of ready (normalised) features in memory (per dataset, in "
                           "the main process); an epoch reads each video once per reference, and on small models "
                           "reading and normalising cost more than the step. Large enough for the training split, "
                           "epochs after the first read nothing (0 = off)", ge=0)
    train_split: str = option("train", "split the model is trained on", choices=SPLITS)
    val_split: str = option("validate", "split used for validation, model selection and early stopping",
                            choices=SPLITS)


# The model section holds every option of every registered model under its constructor parameter's name. Its
# default and type are read from the constructors (vidcap.models.all_options): a model's defaults are written once,
# in its signature. What a signature cannot say is written here: the meaning, the range and the allowed values.
MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "cell": {"doc": "recurrent cell", "choices": CELLS},
    "hidden_size": {"doc": "recurrent state size", "ge": 1},
    "embed_size": {"doc": "word embedding size (and the size features are projected to)", "ge": 1},
    "layers": {"doc": "stacked recurrent layers", "ge": 1, "le": MAX_LAYERS},
    "dropout": {"doc": "dropout on embeddings, features and decoder outputs (0 = none)", "ge": 0, "lt": 1},
    "attention_size": {"doc": "hidden size of the additive (soft) attention", "ge": 1},
    "embed_activation": {"doc": "after the word and video embeddings (mp-lstm): none (linear, as Venugopalan et "
                                "al.) or relu (X-modaler's TOKEN_EMBED/VISUAL_EMBED ACTIVATION)",
                         "choices": EMBED_ACTIVATIONS},
    "encoder": {"doc": "what the attention reads: none = the projected frame features (the SA-LSTM paper), lstm = "
                       "a recurrent encoder's outputs over them", "choices": ENCODERS},
    "init_state": {"doc": "decoder state before the first word: zero (the SA-LSTM paper) or mean (tanh projection "
                          "of the mean frame memory)", "choices": INIT_STATES},
}


def model_section(models: Registry | None = None) -> type:
    """The ``model`` section's dataclass: ``name``, then each option of the models in ``models`` (a registry;
    None: :data:`vidcap.models.MODELS`) with its constructor's default and type and the meaning, range and
    choices of :data:`MODEL_OPTIONS`. An option without an entry there, or an entry no model takes, is a
    ``TypeError``; so is an option two models give different defaults (see :func:`vidcap.models.all_options`).

    Example:
        >>> from vidcap.models.sa_lstm import SALSTM
        >>> from vidcap.registry import Registry
        >>> only = Registry("model")
        >>> _ = only.register("sa-lstm")(SALSTM)
        >>> [f.name for f in dataclasses.fields(model_section(only))][:3]
        ['name', 'cell', 'hidden_size']
        >>> model_section(only)().hidden_size
        512
    """
    models = MODELS if models is None else models
    params = all_options(models)
    undescribed = [option for option in params if option not in MODEL_OPTIONS]
    if undescribed:
        raise TypeError(f"model option(s) {', '.join(undescribed)} have no entry in MODEL_OPTIONS "
                        f"(vidcap/config/schema.py): add each one's meaning and range there")
    if models is MODELS and params.keys() != MODEL_OPTIONS.keys():
        raise TypeError(f"MODEL_OPTIONS describes {', '.join(MODEL_OPTIONS.keys() - params.keys())}, which no "
                        f"registered model takes: remove it")
    fields = [("name", str, option("sa-lstm", "decoder from the model registry (`vidcap list models`)",
                                   choices=models.names))]
    fields += [(key, params[key].annotation, option(params[key].default, **about))
               for key, about in MODEL_OPTIONS.items() if key in params]
    return dataclasses.make_dataclass("ModelConfig", fields)


ModelConfig = model_section()


@dataclass
class ScheduledSamplingConfig:
    max_prob: float = option(0.0, "highest probability of feeding the model its own previous word "
                             "(0 = teacher forcing)", ge=0, le=1)
    ramp_epochs: int = option(10, "epochs over which that probability rises linearly from 0 to max_prob", ge=0)


@dataclass
class TrainConfig:
    epochs: int = option(30, "passes over the training items", ge=1)
    batch_size: int = option(64, "global batch size (split across processes under torchrun)", ge=1)
    optimizer: str = option("adamw", "adamw (decoupled weight decay; with weight_decay 0 it is Adam) or sgd (with "
                            "train.momentum; weight decay as L2, Caffe's and torch.optim.SGD's)", choices=OPTIMIZERS)
    momentum: float = option(0.9, "SGD momentum (train.optimizer=sgd only)", ge=0, lt=1)
    # Both optimizers move each weight by about lr per step: above 1 it only destroys the model (and near
    # 1e38 its step size overflows float32).
    lr: float = option(0.0002, "peak learning rate", gt=0, le=1)
    weight_decay: float = option(0.0, "weight decay", ge=0)
    warmup_steps: int = option(0, "linear learning-rate warm-up steps, then train.schedule", ge=0)
    # schedule, step_epochs and step_gamma are lr_factor's arguments, defaults included.
    schedule: str = option(default_of(lr_factor, "schedule"), "learning rate after the warm-up: cosine (decays to "
                           "zero at the last step), constant (train.lr throughout) or step (times train.step_gamma "
                           "every train.step_epochs epochs, counted from the first step)", choices=SCHEDULES)
    step_epochs: float = option(default_of(lr_factor, "step_epochs"), "train.schedule=step: epochs between decays "
                                "(a fraction is fine: Caffe's iteration counts)", gt=0)
    step_gamma: float = option(default_of(lr_factor, "step_gamma"), "train.schedule=step: factor applied at each "
                               "decay", gt=0, le=1)
    grad_clip: float = option(5.0, "gradient clipping threshold (0 = no clipping), see train.grad_clip_mode", ge=0)
    grad_clip_mode: str = option("norm", "norm: rescale the gradients so their global L2 norm is at most "
                                 "train.grad_clip (Caffe's clip_gradients); value: clamp every gradient value to "
                                 "[-train.grad_clip, train.grad_clip] (X-modaler's GRAD_CLIP_TYPE value)",
                                 choices=CLIPPERS)
    ema: float = option(0.0, ">0: keep an exponential moving average of the weights with this decay per step "
                        "(e.g. 0.998); validation, best.pt and captions then use the averaged weights", ge=0, lt=1)
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy loss", ge=0, lt=1)
    scheduled_sampling: ScheduledSamplingConfig = section(
        ScheduledSamplingConfig, "feeding the model its own words during cross-entropy training")
    amp: str = option("auto", "mixed precision (vidcap.precision): auto (bf16 where supported on CUDA, else fp32), "
                      "fp32 (no autocast; `off` says the same), bf16, fp16 (CUDA only)", choices=precision_choices)
    compile: bool = option(False, "torch.compile the model")
    seed: int = option(0, "seed of initialisation, shuffling and sampling")
    early_stop: int = option(5, "stop after this many epochs without a better validation score (0 = never)",
                             ge=0)
    monitor: str = option("CIDEr", "validation score that selects best.pt and drives early stopping: CIDEr or "
                          "Bleu_4 (of the beam-searched captions; higher is better) or loss (the validation "
                          "references' cross-entropy under teacher forcing; lower is better)",
                          choices=MONITORS)
    workers: int = option(2, "processes that read the training features the cache lacks (with data.cache_mb=0: "
                          "every item), ahead of the batches", ge=0)
    log_every: int = option(50, "log the training loss every this many steps", ge=1)
    init: Optional[str] = option(None, "checkpoint whose model weights start the run (e.g. for SCST)")
    scst: bool = option(False, "self-critical sequence training (CIDEr-D reward) instead of cross-entropy")
    # The scst_* keys are SelfCritical's keyword arguments (train.scst_<name> sets <name>), defaults included.
    scst_samples: int = option(default_of(SelfCritical, "samples"), "sampled captions per video for SCST", ge=1)
    scst_baseline: str = option(default_of(SelfCritical, "baseline"), "SCST reward baseline: mean (of the other "
                                "samples) or greedy (the greedy caption)", choices=BASELINES)
    scst_temperature: float = option(default_of(SelfCritical, "temperature"), "sampling temperature for SCST", gt=0)
    scst_max_len: int = option(default_of(SelfCritical, "max_len"), "longest sampled caption for SCST (words)", ge=1)
    scst_bleu_weight: float = option(default_of(SelfCritical, "bleu_weight"), "SCST reward = (1 - w) * CIDEr-D + "
                                     "w * BLEU-4 (0 = CIDEr-D only)", ge=0, le=1)
    scst_eos_word: bool = option(default_of(SelfCritical, "eos_word"), "SCST reward: the end-of-sentence token "
                                 "counts as a word (<eos>) in samples and references, as in "
                                 "ruotianluo/self-critical.pytorch, a third-party SCST codebase (captions ending on "
                                 "'a' lose)")


# A trained model's decoding settings are EvalSettings (vidcap.trained.model): its defaults and bounds are these keys'.
_EVAL = EvalSettings()


@dataclass
class EvalConfig:
    beam_size: int = option(_EVAL.beam_size, "beam width for validation and test captions (1 = greedy)", ge=1,
                            le=EVAL_LIMITS["beam_size"][1])
    max_len: int = option(_EVAL.max_len, "longest generated caption (words)", ge=1, le=EVAL_LIMITS["max_len"][1])
    length_penalty: float = option(_EVAL.length_penalty, "GNMT: beam score = sum log-prob / ((5 + n) / 6) ** "
                                   "length_penalty, n words + EOS (0 = raw)", ge=0)
    block_trigrams: bool = option(_EVAL.block_trigrams, "forbid repeating a word trigram within a caption")
    allow_unk: bool = option(_EVAL.allow_unk, "let generated captions contain <unk> (it never matches a reference "
                             "word, so by default it is ruled out)")
    batch_size: int = option(_EVAL.batch_size, "videos per decoding batch", ge=1, le=EVAL_LIMITS["batch_size"][1])


@dataclass
class Config:
    data: DataConfig = section(DataConfig, "annotations, feature stores, vocabulary and feature preprocessing")
    model: ModelConfig = section(ModelConfig, "the caption model: set only options that model.name takes")
    train: TrainConfig = section(TrainConfig, "optimisation, schedule, mixed precision, SCST")
    eval: EvalConfig = section(EvalConfig, "caption generation for validation and testing")
    out: str = option("runs/vidcap", "run folder: best.pt, last.pt, metrics.json")
    device: str = option("auto", "auto (cuda when available), cpu, cuda, cuda:1, ...")


# ----------------------------------------------------------------------------------- reading the schema
_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               list: "a list"}
_SHORT_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list"}


@dataclass(frozen=True)
class KeySpec:
    """One leaf key of the schema: dotted ``key``, value ``kind`` (``item`` for lists), and its options."""

    key: str
    kind: type
    item: type | None
    nullable: bool
    default: Any
    doc: str
    choices: Choices | None = None
    bounds: Bounds | None = None
    one_or_more: bool = False
    resumable: bool = False

    def choice_list(self) -> list[str] | None:
        """The allowed values (a registry's names are looked up now), or None for any value."""
        if self.choices is None:
            return None
        return list(self.choices() if callable(self.choices) else self.choices)

    def type_text(self) -> str:
        """E.g. ``int >= 1``, ``int or null``, ``list of str (or one str)``, ``str: lstm | gru``."""
        text = _SHORT_NAMES[self.kind] + (f" of {_SHORT_NAMES[self.item]}" if self.item else "")
        if self.one_or_more:
            text += f" (or one {_SHORT_NAMES[self.item]})"
        if self.bounds:
            text += f" {self.bounds}"
        if self.choices is not None:
            text += ": " + " | ".join(self.choice_list())
        return text + (" or null" if self.nullable else "")

    def check(self, value: Any) -> Any:
        """``value`` as this key takes it (an int for a float becomes a float; one string for a
        one-or-more list becomes a list); else a ``UsageError`` saying what is expected.

        Example:
            >>> specs()["train.lr"].check(1)
            1.0
            >>> specs()["train.epochs"].check(0)
            Traceback (most recent call last):
            ...
            vidcap.errors.UsageError: must be >= 1
            >>> specs()["train.lr"].check(float("inf"))
            Traceback (most recent call last):
            ...
            vidcap.errors.UsageError: must be a finite number in (0, 1]
        """
        if value is None:
            if self.nullable:
                return None
            raise UsageError(f"null is not allowed; expected {_TYPE_NAMES[self.kind]}")
        if self.one_or_more and isinstance(value, str):
            value = [value]
        choices = self.choice_list()
        if choices is not None and value is False and "off" in choices:
            value = "off"  # YAML 1.1 reads a bare `off` as false
        if not _is(value, self.kind):
            raise UsageError(f"expected {_TYPE_NAMES[self.kind]}, got a {type(value).__name__}")
        if self.kind is float:
            value = float(value)
            if not math.isfinite(value):  # nan passes no bound check and inf passes a lower one
                raise UsageError(f"must be a finite number{f' {self.bounds}' if self.bounds else ''}")
        if self.item is not None:
            bad = [v for v in value if not _is(v, self.item)]
            if bad:
                raise UsageError(f"every element must be {_TYPE_NAMES[self.item]}; {bad[0]!r} is not")
        if choices is not None and value not in choices:
            close = closest(value, list(choices))
            hint = f" (did you mean {close}?)" if close else ""
            raise UsageError(f"choose one of {', '.join(choices)}{hint}")
        if self.bounds is not None and value not in self.bounds:
            raise UsageError(f"must be {self.bounds}")
        return value


def _is(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, (int, float) if kind is float else kind)


def _leaf(key: str, hint: Any, f: dataclasses.Field) -> KeySpec:
    nullable = type(None) in typing.get_args(hint)
    if nullable:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    item = None
    if typing.get_origin(hint) in (list, List):
        hint, item = list, typing.get_args(hint)[0]
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    m = f.metadata
    return KeySpec(key, hint, item, nullable, default, m["doc"], m["choices"], m["bounds"], m["one_or_more"],
                   key in RESUMABLE)


def _walk(cls: type, prefix: str, leaves: dict[str, KeySpec], sections: dict[str, str]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if "doc" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with option(...) or section(...)")
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            sections[key] = f.metadata["doc"]
            _walk(hints[f.name], f"{key}.", leaves, sections)
        else:
            leaves[key] = _leaf(key, hints[f.name], f)


@lru_cache(maxsize=1)
def _schema() -> tuple[dict[str, KeySpec], dict[str, str]]:
    leaves: dict[str, KeySpec] = {}
    sections: dict[str, str] = {}
    _walk(Config, "", leaves, sections)
    return leaves, sections


def specs() -> dict[str, KeySpec]:
    """Every leaf key of :class:`Config` (dotted, in declaration order) → its :class:`KeySpec`.

    Example:
        >>> list(specs())[:2], specs()["data.frames"].type_text()
        (['data.annotations', 'data.features'], 'int >= 1 or null')
    """
    return _schema()[0]


def section_docs() -> dict[str, str]:
    """Each section's dotted name (``"train.scheduled_sampling"``) → its meaning.

    Example:
        >>> section_docs()["eval"]
        'caption generation for validation and testing'
    """
    return _schema()[1]
