"""Training configuration: one documented default (``default.yaml``), a YAML file, dotted overrides.

:func:`load_config` merges, in order, the packaged defaults, the user's YAML file and ``key=value``
overrides (values parsed as YAML: ``train.lr=1e-4``, ``data.features=[a,b]``, ``train.init=null``), then
resolves OmegaConf interpolations (``${model.name}``) and checks every value against the defaults:

* a key that is not in the defaults is a :class:`~vidcap.errors.UsageError` listing the valid keys of
  its section (and the closest match);
* a value must have the default's type: ``bool``, ``int``, ``float`` (an int is accepted and converted),
  ``str``, a list (of the default elements' type), a section; keys whose default is null declare their
  type in :data:`NULLABLE`; ``data.annotations``/``data.features``/``data.streams`` also take one string;
* a few keys take only some values (:data:`CHOICES`) or a range (:data:`LIMITS`).

The result is a struct-mode ``DictConfig``: reading or setting a key that does not exist fails loudly.
``OmegaConf.to_container(cfg)`` gives plain data, e.g. to store in a checkpoint.

Example:
    >>> cfg = load_config(None, ["train.epochs=3", "model.cell=gru"])
    >>> cfg.train.epochs, cfg.model.cell, cfg.data.streams
    (3, 'gru', ['frame'])
"""
from __future__ import annotations

import difflib
import os
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Mapping, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vidcap.errors import InputError, UsageError

DEFAULTS = "default.yaml"  # packaged next to this module

# Keys whose default is null, and the type they take otherwise.
NULLABLE: dict[str, type] = {"data.frames": int, "data.max_vocab": int, "train.init": str}
# Lists that may also be given as one string.
ONE_OR_MORE = frozenset({"data.annotations", "data.features", "data.streams"})
SPLITS = ("train", "validate", "test")
CHOICES: dict[str, tuple[str, ...]] = {
    "data.references": ("all", "sample"),
    "data.train_split": SPLITS,
    "data.val_split": SPLITS,
    "model.cell": ("lstm", "gru"),
    "train.amp": ("auto", "bf16", "fp16", "off"),
    "train.scst_baseline": ("mean", "greedy"),
    "train.monitor": ("CIDEr", "Bleu_4", "loss"),  # the validation scores (vidcap.engine.train)
}
_POSITIVE = (lambda v: v > 0, "> 0")
_AT_LEAST_1 = (lambda v: v >= 1, ">= 1")
_NON_NEGATIVE = (lambda v: v >= 0, ">= 0")
_PROBABILITY = (lambda v: 0 <= v <= 1, "in [0, 1]")
LIMITS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data.frames": _AT_LEAST_1, "data.min_count": _AT_LEAST_1, "data.max_vocab": _AT_LEAST_1,
    "data.max_len": _AT_LEAST_1, "data.whiten": _NON_NEGATIVE, "data.cache_mb": _NON_NEGATIVE,
    "model.hidden_size": _AT_LEAST_1, "model.embed_size": _AT_LEAST_1, "model.layers": _AT_LEAST_1,
    "model.attention_size": _AT_LEAST_1, "model.dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.epochs": _AT_LEAST_1, "train.batch_size": _AT_LEAST_1, "train.lr": _POSITIVE,
    "train.weight_decay": _NON_NEGATIVE, "train.warmup_steps": _NON_NEGATIVE, "train.grad_clip": _NON_NEGATIVE,
    "train.ema": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.scheduled_sampling.max_prob": _PROBABILITY, "train.scheduled_sampling.ramp_epochs": _NON_NEGATIVE,
    "train.early_stop": _NON_NEGATIVE, "train.workers": _NON_NEGATIVE, "train.log_every": _AT_LEAST_1,
    "train.scst_samples": _AT_LEAST_1, "train.scst_temperature": _POSITIVE, "train.scst_max_len": _AT_LEAST_1,
    "train.scst_bleu_weight": _PROBABILITY,
    "eval.beam_size": _AT_LEAST_1, "eval.max_len": _AT_LEAST_1, "eval.length_penalty": _NON_NEGATIVE,
    "eval.batch_size": _AT_LEAST_1,
}
_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a section (mapping)"}


@lru_cache(maxsize=1)
def _default_text() -> str:
    return resources.files("vidcap.engine").joinpath(DEFAULTS).read_text(encoding="utf-8")


def defaults() -> dict[str, Any]:
    """The packaged defaults as plain data (a fresh copy).

    Example:
        >>> defaults()["train"]["amp"]
        'auto'
    """
    return OmegaConf.to_container(OmegaConf.create(_default_text()))


def keys(tree: Mapping[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Every dotted leaf key of ``tree`` (the defaults when None).

    Example:
        >>> "train.scheduled_sampling.max_prob" in keys()
        True
    """
    tree = defaults() if tree is None else tree
    out = []
    for k, v in tree.items():
        out.extend(keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])
    return out


def _unknown(key: str, section: Mapping[str, Any], prefix: str, source: str) -> UsageError:
    valid = [f"{prefix}{k}" for k in section]
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    where = prefix.rstrip(".") or "the top level"
    return UsageError(f"unknown config key {key!r} ({source}).{hint} Valid keys in {where}: {', '.join(valid)}")


def _merge(base: dict[str, Any], new: Any, source: str, prefix: str = "") -> None:
    """Merge ``new`` into ``base`` in place; keys must exist in ``base`` (types are checked later)."""
    if not isinstance(new, Mapping):
        raise UsageError(f"{prefix.rstrip('.') or 'config'} ({source}): expected a section of keys, got {new!r}")
    for k, v in new.items():
        key = f"{prefix}{k}"
        if k not in base:
            raise _unknown(key, base, prefix, source)
        if isinstance(base[k], dict):
            if not isinstance(v, Mapping):
                raise UsageError(f"{key}={v!r} ({source}): expected a section with keys "
                                 f"{', '.join(base[k])}")
            _merge(base[k], v, source, f"{key}.")
        else:
            base[k] = v


def _check(value: Any, default: Any, key: str) -> Any:
    """``value`` converted to the default's type, or UsageError naming key, value and expected type."""
    expected: type = NULLABLE.get(key, type(default))
    if value is None:
        if key in NULLABLE:
            return None
        raise UsageError(f"{key}: null is not allowed; expected {_TYPE_NAMES[expected]}")
    if key in ONE_OR_MORE and isinstance(value, str):
        value = [value]
    if key in CHOICES and value is False and "off" in CHOICES[key]:
        value = "off"  # YAML 1.1 reads a bare `off` as false
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str),
          list: lambda v: isinstance(v, list)}[expected]
    if not ok(value):
        raise UsageError(f"{key}={value!r} ({type(value).__name__}): expected {_TYPE_NAMES[expected]}")
    if expected is float:
        value = float(value)
    if expected is list:
        kinds = {type(d) for d in default} or {str}
        bad = [v for v in value if type(v) not in kinds]
        if bad:
            names = " or ".join(sorted(_TYPE_NAMES[t] for t in kinds))
            raise UsageError(f"{key}={value!r}: every element must be {names}; {bad[0]!r} is not")
    if key in CHOICES and value not in CHOICES[key]:
        raise UsageError(f"{key}={value!r}: choose one of {', '.join(CHOICES[key])}")
    if key in LIMITS and not LIMITS[key][0](value):
        raise UsageError(f"{key}={value!r}: must be {LIMITS[key][1]}")
    return value


def _check_tree(tree: dict[str, Any], reference: dict[str, Any], prefix: str = "") -> None:
    for k, default in reference.items():
        key = f"{prefix}{k}"
        if isinstance(default, dict):
            _check_tree(tree[k], default, f"{key}.")
        else:
            tree[k] = _check(tree[k], default, key)


def parse_override(item: str) -> dict[str, Any]:
    """``"a.b=value"`` → ``{"a": {"b": value}}`` with the value parsed as YAML.

    Example:
        >>> parse_override("train.lr=1e-4")
        {'train': {'lr': 0.0001}}
    """
    key, sep, _ = item.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise UsageError(f"override {item!r}: expected key=value, e.g. train.epochs=30")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist([item.strip()]))
    except (OmegaConfBaseException, yaml.YAMLError) as err:
        raise UsageError(f"override {item!r}: cannot parse it ({err})") from None


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        loaded = OmegaConf.load(path)
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read config file ({err})") from None
    except (yaml.YAMLError, OmegaConfBaseException) as err:
        raise InputError(f"{path}: invalid YAML ({err})") from None
    if not isinstance(loaded, DictConfig):
        raise InputError(f"{path}: a config file must be a mapping of sections (data:, model:, train:, ...)")
    return OmegaConf.to_container(loaded)


def load_config(path: str | os.PathLike[str] | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """Defaults ← YAML file ``path`` (None: defaults only) ← ``overrides``; checked (module docstring).

    Example:
        >>> load_config(None, ["train.amp=off", "data.features=feats/"]).data.features
        ['feats/']
    """
    merged = defaults()
    if path is not None:
        _merge(merged, _read_yaml(path) or {}, str(path))
    if isinstance(overrides, str):
        overrides = [overrides]
    for item in overrides:
        _merge(merged, parse_override(item), f"override {item!r}")
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(merged), resolve=True)
    except OmegaConfBaseException as err:
        raise UsageError(f"config interpolation failed: {err}") from None
    _check_tree(resolved, defaults())
    cfg = OmegaConf.create(resolved)
    OmegaConf.set_struct(cfg, True)
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    """The config as YAML (e.g. to save next to a run's outputs)."""
    return OmegaConf.to_yaml(cfg)
