"""Model folders: a trained model as ``model.safetensors`` + ``config.json`` + ``README.md``, pickle-free.

A training checkpoint (``best.pt``) is a ``torch.save`` archive: safe to read with vidcap
(``weights_only=True``), but a format other tools treat as code. A model folder holds the same model in
two data-only files, the layout the Hugging Face Hub expects:

- ``model.safetensors``: every tensor: the model's state dict under ``model.`` and the feature
  normaliser's statistics under ``normalizer.`` (safetensors: a JSON header of names, dtypes, shapes and
  byte offsets, then raw bytes; reading it runs no code).
- ``config.json``: everything else: the model's ``get_model`` config, the vocabulary, the normaliser's
  structure (each tensor named with its dtype and shape), the feature spec of every store the model was
  trained on, the input streams, the captioning defaults, where it came from, and the vidcap version.
- ``README.md``: a model card (:mod:`vidcap.engine.modelcard`).

:func:`read_model_folder` treats a folder as untrusted: a missing file, a safetensors header that does not
fit its file, a tensor missing, extra, or of another shape or dtype than the model (or the config) says, a
config naming an unknown model, each is an :class:`~vidcap.errors.InputError` naming the file.

Example:
    >>> export_model("runs/sa/best.pt", "models/sa")                       # doctest: +SKIP
    PosixPath('models/sa')
    >>> parts = read_model_folder("models/sa")                             # doctest: +SKIP
    >>> sorted(parts)                                                      # doctest: +SKIP
    ['eval_cfg', 'frames', 'model', 'normalizer', 'stores', 'streams', 'vocab']
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from vidcap import __version__
from vidcap.data import FeatureNormalizer, Vocabulary
from vidcap.engine.checkpoint import load_checkpoint
from vidcap.errors import InputError, UsageError, VidcapError
from vidcap.files import read_json, write_atomic, write_json
from vidcap.models import CaptionModel, get_model

__all__ = ["CARD", "CONFIG", "FILES", "FORMAT", "WEIGHTS", "checkpoint_contents", "export_model",
           "read_model_folder"]

FORMAT = "vidcap-model/1"
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
FILES = (WEIGHTS, CONFIG, CARD)
_PARTS = ("model", "vocab", "normalizer", "stores", "streams", "frames", "eval")


# ----------------------------------------------------------------------------- tensors <-> JSON
def split_tensors(tree: Any, prefix: str, out: dict[str, torch.Tensor]) -> Any:
    """``tree`` with every tensor replaced by ``{"tensor": name, "dtype", "shape"}``; the tensors go to ``out``.

    Example:
        >>> tensors = {}
        >>> split_tensors({"mean": {"frame": torch.zeros(2)}, "deltas": True}, "normalizer", tensors)
        {'mean': {'frame': {'dtype': 'float32', 'shape': [2], 'tensor': 'normalizer.mean.frame'}}, 'deltas': True}
        >>> list(tensors)
        ['normalizer.mean.frame']
    """
    if isinstance(tree, torch.Tensor):
        if prefix in out:
            raise UsageError(f"two tensors would both be stored as {prefix!r}")
        out[prefix] = tree.detach().cpu().contiguous().clone()  # safetensors refuses shared storage
        return {"dtype": str(tree.dtype).removeprefix("torch."), "shape": list(tree.shape), "tensor": prefix}
    if isinstance(tree, Mapping):
        return {k: split_tensors(v, f"{prefix}.{k}", out) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [split_tensors(v, f"{prefix}.{i}", out) for i, v in enumerate(tree)]
    return tree


def join_tensors(tree: Any, tensors: Mapping[str, torch.Tensor], used: set[str], where: str) -> Any:
    """Inverse of :func:`split_tensors`: each reference must name a tensor of the declared dtype and shape."""
    if isinstance(tree, Mapping) and set(tree) == {"tensor", "dtype", "shape"}:
        name = tree["tensor"]
        if not isinstance(name, str) or name not in tensors:
            raise InputError(f"{where}: names tensor {name!r}, which {WEIGHTS} does not hold")
        found = tensors[name]
        if str(found.dtype).removeprefix("torch.") != tree["dtype"] or list(found.shape) != tree["shape"]:
            raise InputError(f"{where}: tensor {name!r} is {str(found.dtype).removeprefix('torch.')} "
                             f"{list(found.shape)} in {WEIGHTS}, but {CONFIG} says {tree['dtype']} {tree['shape']}")
        used.add(name)
        return found
    if isinstance(tree, Mapping):
        return {k: join_tensors(v, tensors, used, where) for k, v in tree.items()}
    if isinstance(tree, list):
        return [join_tensors(v, tensors, used, where) for v in tree]
    return tree


# ----------------------------------------------------------------------------------- export
def checkpoint_contents(ckpt: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The parts of a loaded training checkpoint that captioning needs, plus its provenance."""
    try:
        data, cfg = ckpt["data"], ckpt["config"]
        contents = {"model": dict(ckpt["model"]["config"]), "state": ckpt["model"]["state"],
                    "vocab": data["vocab"], "normalizer": data["normalizer"], "stores": list(data["stores"]),
                    "streams": list(data["streams"]), "frames": cfg["data"]["frames"], "eval": dict(cfg["eval"])}
        trained = {"epoch": ckpt.get("epoch"), "metrics": ckpt.get("metrics") or {},
                   "annotations": [Path(p).name for p in cfg["data"]["annotations"]],
                   "features": [Path(p).name for p in cfg["data"]["features"]],
                   "train_split": cfg["data"].get("train_split", "train"),
                   "val_split": cfg["data"].get("val_split", "validate"),
                   "train": dict(cfg["train"]), "vidcap_version": ckpt.get("vidcap_version")}
    except (KeyError, TypeError) as err:
        raise InputError(f"{source}: not a complete vidcap model checkpoint (missing {err})") from None
    return {**contents, "trained": trained}


def export_model(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 scores: Mapping[str, Any] | None = None, history: list[Mapping[str, Any]] | None = None) -> Path:
    """Write the model of ``checkpoint`` as a model folder at ``out`` (created; existing files replaced).

    ``scores`` (a ``vidcap eval --json`` document) and ``history`` (the run's ``metrics.json``; read from
    the checkpoint's folder when not given) go into the model card. The folder is read back with
    :func:`read_model_folder` before this returns, so what was written is known to load.

    Example:
        >>> export_model("runs/sa/best.pt", "models/sa")                   # doctest: +SKIP
        PosixPath('models/sa')
    """
    from vidcap.engine.modelcard import model_card

    checkpoint, out = Path(checkpoint), Path(out)
    contents = checkpoint_contents(load_checkpoint(checkpoint), f"checkpoint {checkpoint}")
    where = f"checkpoint {checkpoint}"
    _build_model(contents["model"], contents["state"], where, where)  # refuse a broken one early
    if history is None and (checkpoint.parent / "metrics.json").is_file():
        history = read_json(checkpoint.parent / "metrics.json", "run metrics")
    tensors: dict[str, torch.Tensor] = {}
    split_tensors(dict(contents["state"]), "model", tensors)
    config = {"format": FORMAT, "vidcap_version": __version__,
              **{k: contents[k] for k in _PARTS if k != "normalizer"},
              "normalizer": split_tensors(contents["normalizer"], "normalizer", tensors),
              "trained": {**contents["trained"], "checkpoint": checkpoint.name}}
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder; give a folder for the model")
    write_atomic(out / WEIGHTS, save(tensors, metadata={"format": "pt", "vidcap": FORMAT}))
    write_json(out / CONFIG, config)
    write_atomic(out / CARD, model_card(config, scores=scores, history=history, name=out.name))
    read_model_folder(out)
    return out


# ------------------------------------------------------------------------------------ read
def _build_model(config: Any, state: Mapping[str, torch.Tensor], where: str, config_where: str) -> CaptionModel:
    """``get_model(**config)`` with exactly the tensors of ``state`` (same names, shapes and dtypes); errors
    name ``config_where`` for the config, ``where`` for the tensors."""
    if not isinstance(config, Mapping) or not isinstance(config.get("name"), str):
        raise InputError(f"{config_where}: 'model' must be an object with the model's 'name' and options")
    try:
        model = get_model(**config)
    except (UsageError, TypeError) as err:
        raise InputError(f"{config_where}: model: {err}") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        problem = (f"lacks {len(missing)} of the model's tensors, e.g. {missing[0]!r}" if missing
                   else f"holds {len(extra)} tensors the {config['name']} model does not have, e.g. {extra[0]!r}")
        raise InputError(f"{where}: {problem}")
    for key, want in expected.items():
        got = state[key]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise InputError(f"{where}: tensor {key!r} is {str(got.dtype).removeprefix('torch.')} "
                             f"{list(got.shape)}, the {config['name']} model needs "
                             f"{str(want.dtype).removeprefix('torch.')} {list(want.shape)}")
    model.load_state_dict(state, strict=True)
    return model


def read_model_folder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked parts of a model folder, as :class:`~vidcap.engine.captioner.Captioner` takes them
    (``model``, ``vocab``, ``normalizer``, ``stores``, ``streams``, ``frames``, ``eval_cfg``).

    Example:
        >>> read_model_folder("models/sa")["vocab"]                        # doctest: +SKIP
        Vocabulary(30 words)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: model folder not found" if not folder.exists() else
                         f"{folder}: not a model folder (a model folder holds {WEIGHTS} and {CONFIG})")
    config_path, weights_path = folder / CONFIG, folder / WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise InputError(f"{path}: missing; a vidcap model folder holds {WEIGHTS} and {CONFIG} "
                             f"(written by vidcap export)")
    config = read_json(config_path, "model config")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise InputError(f"{config_path}: not a vidcap model config (format {found!r}; expected {FORMAT!r})")
    absent = [k for k in _PARTS if k not in config]
    if absent:
        raise InputError(f"{config_path}: lacks {', '.join(absent)}")
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"{weights_path}: not a valid safetensors file ({_first_line(err)})") from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model = _build_model(config["model"], model_state, str(weights_path), str(config_path))
    used = {f"model.{k}" for k in model_state}
    try:
        norm = join_tensors(config["normalizer"], tensors, used, f"{config_path}: normalizer")
        normalizer = None if norm is None else FeatureNormalizer.from_state_dict(norm)
        vocab = Vocabulary.from_state_dict(config["vocab"])
    except VidcapError as err:
        raise InputError(f"{config_path}: {err}") from None
    if len(vocab) != model.vocab_size:
        raise InputError(f"{config_path}: the vocabulary has {len(vocab)} words, the model "
                         f"{model.vocab_size}")
    unused = sorted(set(tensors) - used)
    if unused:
        raise InputError(f"{weights_path}: holds {len(unused)} tensors that {CONFIG} does not name, "
                         f"e.g. {unused[0]!r}")
    if not isinstance(config["stores"], list) or not isinstance(config["streams"], list) \
            or not isinstance(config["eval"], dict):
        raise InputError(f"{config_path}: 'stores' and 'streams' must be lists and 'eval' an object")
    return {"model": model, "vocab": vocab, "normalizer": normalizer, "stores": config["stores"],
            "streams": config["streams"], "frames": config["frames"], "eval_cfg": dict(config["eval"])}


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
