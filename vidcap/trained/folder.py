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
- ``README.md``: a model card (:mod:`vidcap.trained.card`).

Stream order is part of the model: a model concatenates its per-frame streams in the order of its
``input_dims``, and ``config.json`` is written with sorted keys, so ``input_dims`` is stored as an ordered
list of ``[name, dims]`` pairs, which no JSON writer reorders. Folders of the first format
(``vidcap-model/1``) stored it as an object: one with two or more frame streams (or two or more object
streams) no longer says their order and is refused (re-export it from its checkpoint); one with a single
stream of each kind is unambiguous and still loads.

Every tensor's SHA-256 (:func:`vidcap.trained.checkpoint.tensor_digest`) is recorded in ``config.json``
(``checksums``) and verified on load, so a flipped byte in ``model.safetensors`` is an error naming the
tensor.

:func:`read_model_folder` treats a folder as untrusted: a missing file, a file that is a link out of the
folder, a safetensors header that does not fit its file, a tensor missing, extra, damaged (checksum), of
another shape or dtype than the model (or the config) says, or holding NaN/Inf, a config naming an unknown
model or sizes its tensors do not have (checked on the meta device, before anything is allocated), each is
an :class:`~vidcap.errors.InputError` naming the file.

This module is the folder format; the model it holds is a :class:`vidcap.trained.model.TrainedModel`
(``TrainedModel.from_folder`` / ``save_folder``, ``vidcap.trained.model.export_model``).

Example:
    >>> parts = read_model_folder("models/sa")                             # doctest: +SKIP
    >>> sorted(parts)                                                      # doctest: +SKIP
    ['eval', 'frames', 'model', 'normalizer', 'stores', 'streams', 'trained', 'vocab']
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from vidcap.data import FeatureNormalizer, Vocabulary
from vidcap.errors import InputError, UsageError, VidcapError
from vidcap.features.backbone import check_identity
from vidcap.files import read_json, write_atomic, write_json
from vidcap.models import CaptionModel, get_model
from vidcap.trained.checkpoint import check_finite, tensor_digest
from vidcap.version import __version__

__all__ = ["CARD", "CONFIG", "FILES", "FIRST_FORMAT", "FORMAT", "WEIGHTS", "build_model", "check_state", "dims_from_config",
           "ordered_dims", "read_model_folder", "write_model_folder"]

FORMAT = "vidcap-model/2"
FIRST_FORMAT = "vidcap-model/1"  # input_dims as an object (order lost to sorted keys), no checksums
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


# ------------------------------------------------------------------------------ stream order
def ordered_dims(input_dims: Mapping[str, Any]) -> list[list[Any]]:
    """A model's ``input_dims`` as ``[[name, dims], ...]`` in the model's order (what config.json stores).

    Example:
        >>> ordered_dims({"frame": 512, "bilinear": 36, "objects": (5, 8)})
        [['frame', 512], ['bilinear', 36], ['objects', [5, 8]]]
    """
    return [[name, list(dims) if isinstance(dims, (list, tuple)) else dims] for name, dims in input_dims.items()]


def dims_from_config(value: Any, fmt: str, where: str) -> dict[str, Any]:
    """``input_dims`` of a config.json back as the model's ordered mapping; InputError naming ``where`` for
    anything else, and for a first-format object whose stream order is ambiguous (see the module docstring).

    Example:
        >>> dims_from_config([["frame", 4], ["bilinear", 3]], FORMAT, "config.json")
        {'frame': 4, 'bilinear': 3}
        >>> dims_from_config({"bilinear": 3, "frame": 4}, FIRST_FORMAT, "config.json")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: config.json: model.input_dims is an object with 2 frame streams (bilinear, frame), written by an older vidcap export whose sorted keys lost their order, so which way the model concatenates them is unknown. Export the model again from its checkpoint with this vidcap
    """
    if fmt == FIRST_FORMAT and isinstance(value, Mapping):
        kinds: dict[str, list[str]] = {"frame": [], "object": []}
        for name, dims in value.items():
            kinds["object" if isinstance(dims, list) else "frame"].append(str(name))
        for kind, names in kinds.items():
            if len(names) > 1:
                raise InputError(f"{where}: model.input_dims is an object with {len(names)} {kind} streams "
                                 f"({', '.join(names)}), written by an older vidcap export whose sorted keys lost "
                                 "their order, so which way the model concatenates them is unknown. Export the "
                                 "model again from its checkpoint with this vidcap")
        return dict(value)
    pairs = value if isinstance(value, list) else None
    if pairs is None or not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
        raise InputError(f"{where}: model.input_dims must be a list of [stream name, dims] pairs in the model's "
                         f"order, got {str(value)[:100]}")
    names = [p[0] for p in pairs]
    if len(set(names)) != len(names):
        raise InputError(f"{where}: model.input_dims names a stream twice ({', '.join(names)})")
    return {name: dims for name, dims in pairs}


# ----------------------------------------------------------------------------------- write
def write_model_folder(contents: Mapping[str, Any], out: str | os.PathLike[str], *, where: str,
                       scores: Mapping[str, Any] | None = None,
                       history: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """The one writer of model folders (:meth:`vidcap.trained.model.TrainedModel.save_folder`, behind
    ``vidcap export`` and ``Captioner.save_pretrained``): ``contents`` holds ``model`` (its config),
    ``state``, ``vocab``, ``normalizer`` (state dicts), ``stores``, ``streams``, ``frames``, ``eval`` and
    ``trained`` (the training record; ``None``: the model card then says the training is unknown). The folder is read back with :func:`read_model_folder` before this returns, so
    what was written is known to load; ``where`` names the source in errors.

    Example:
        >>> write_model_folder(contents, "models/sa", where="checkpoint best.pt")   # doctest: +SKIP
        PosixPath('models/sa')
    """
    from vidcap.trained.card import model_card

    out = Path(out)
    build_model(contents["model"], contents["state"], where, where)  # refuse a broken one early
    stores = [_shareable(store, i, where) for i, store in enumerate(contents["stores"])]
    tensors: dict[str, torch.Tensor] = {}
    split_tensors(dict(contents["state"]), "model", tensors)
    config = {"format": FORMAT, "vidcap_version": __version__,
              **{k: contents[k] for k in _PARTS if k not in ("normalizer", "model", "stores")}, "stores": stores,
              "model": {**contents["model"], "input_dims": ordered_dims(contents["model"]["input_dims"])},
              "normalizer": split_tensors(contents["normalizer"], "normalizer", tensors),
              "trained": None if contents.get("trained") is None else dict(contents["trained"])}
    config["checksums"] = {name: tensor_digest(t) for name, t in tensors.items()}
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder; give a folder for the model")
    write_atomic(out / WEIGHTS, save(tensors, metadata={"format": "pt", "vidcap": FORMAT}))
    write_json(out / CONFIG, config)
    write_atomic(out / CARD, model_card(config, scores=scores, history=history, name=out.name))
    read_model_folder(out)
    return out


# ------------------------------------------------------------------------------------ read
def build_model(config: Any, state: Mapping[str, torch.Tensor], where: str, config_where: str) -> CaptionModel:
    """``get_model(**config)`` with exactly the tensors of ``state`` (same names, shapes and dtypes); errors
    name ``config_where`` for the config, ``where`` for the tensors. The model is first built on the meta
    device (no memory), so a config whose sizes the tensors do not have is refused before anything the
    size of it is allocated.

    Example:
        >>> m = get_model("mp-lstm", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4)
        >>> build_model({**m.config, "hidden_size": 100_000}, m.state_dict(), "w", "c")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: w: tensor 'out.weight' is float32 [9, 8], the mp-lstm model needs float32 [9, 100000]
    """
    if not isinstance(config, Mapping) or not isinstance(config.get("name"), str):
        raise InputError(f"{config_where}: 'model' must be an object with the model's 'name' and options")
    try:
        with torch.device("meta"):  # shapes only: the config's sizes cost nothing yet
            skeleton = get_model(**config)
    except (VidcapError, TypeError, ValueError, RuntimeError) as err:
        raise InputError(f"{config_where}: model: {err}") from None
    check_state(skeleton.state_dict(), state, where, f"the {config['name']} model")
    # Whatever the model allocates beyond its state (non-persistent buffers) must stay small too.
    on_disk = sum(t.numel() for t in state.values())
    needed = sum(t.numel() for t in skeleton.parameters()) + sum(b.numel() for b in skeleton.buffers())
    if needed > 2 * on_disk + (1 << 20):
        raise InputError(f"{config_where}: model would allocate {needed} values for {on_disk} stored ones")
    model = get_model(**config)
    model.load_state_dict(state, strict=True)
    return model


def check_state(expected: Mapping[str, torch.Tensor], state: Any, where: str, model: str) -> None:
    """InputError naming ``where`` unless ``state`` holds exactly the tensors of ``expected`` (a model's
    state dict, possibly on the meta device: names, shapes and dtypes) and all of them finite; ``model``
    names the model they are for. Checkpoints and folders (:func:`build_model`) and the trainer's
    resumed or initial weights (against the configured model) are checked by this one function.

    Example:
        >>> check_state({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, "best.pt", "the configured model")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: best.pt: tensor 'w' is float32 [3], the configured model needs float32 [2]
    """
    if not isinstance(state, Mapping):
        raise InputError(f"{where}: the model's state must be a table of tensors, not a {type(state).__name__}")
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        problem = (f"lacks {len(missing)} of the model's tensors, e.g. {missing[0]!r}" if missing
                   else f"holds {len(extra)} tensors {model} does not have, e.g. {extra[0]!r}")
        raise InputError(f"{where}: {problem}")
    for key, want in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor):
            raise InputError(f"{where}: {key!r} is a {type(got).__name__}, not a tensor")
        if got.shape != want.shape or got.dtype != want.dtype:
            raise InputError(f"{where}: tensor {key!r} is {str(got.dtype).removeprefix('torch.')} "
                             f"{list(got.shape)}, {model} needs "
                             f"{str(want.dtype).removeprefix('torch.')} {list(want.shape)}")
    check_finite(state, where)


def read_model_folder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked parts of a model folder, which :meth:`vidcap.trained.model.TrainedModel.from_folder`
    assembles (``model``, ``vocab``, ``normalizer``, ``stores``, ``streams``, ``frames``, ``eval``, and
    ``trained``: what the folder says of its training, ``None`` when it says nothing usable).

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
        _inside(path, folder)
    config = read_json(config_path, "model config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt not in (FORMAT, FIRST_FORMAT):
        found = fmt if isinstance(config, dict) else type(config).__name__
        raise InputError(f"{config_path}: not a vidcap model config (format {found!r}; expected {FORMAT!r})")
    absent = [k for k in _PARTS + (("checksums",) if fmt == FORMAT else ()) if k not in config]
    if absent:
        raise InputError(f"{config_path}: lacks {', '.join(absent)}")
    if not isinstance(config["model"], dict):
        raise InputError(f"{config_path}: 'model' must be an object with the model's 'name' and options")
    model_config = {**config["model"], "input_dims": dims_from_config(config["model"].get("input_dims"), fmt,
                                                                      str(config_path))}
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"{weights_path}: not a valid safetensors file ({_first_line(err)})") from None
    if fmt == FORMAT:
        _verify(tensors, config["checksums"], weights_path, config_path)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model = build_model(model_config, model_state, str(weights_path), str(config_path))
    used = {f"model.{k}" for k in model_state}
    try:
        norm = join_tensors(config["normalizer"], tensors, used, f"{config_path}: normalizer")
        check_finite({k: v for k, v in tensors.items() if k.startswith("normalizer.")}, str(weights_path))
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
            "streams": config["streams"], "frames": config["frames"], "eval": dict(config["eval"]),
            # only ever shown in a model card again (save_pretrained), never acted on
            "trained": config["trained"] if isinstance(config.get("trained"), dict) else None}


def _shareable(store: Any, index: int, where: str) -> Any:
    """A training store's description as a folder may share it: its weights named by identity (a path or
    URL there is refused, not passed on), and the store's own note of how they were asked for
    (``extra.weights``, often a path on this machine) replaced by that identity."""
    try:
        identity = store["spec"]["weights"]
    except (KeyError, TypeError):
        raise InputError(f"{where}: stores[{index}] has no feature spec") from None
    check_identity(identity, f"{where}: stores[{index}].spec.weights")
    extra = store.get("extra") if isinstance(store.get("extra"), dict) else {}
    return {**store, "extra": {**extra, "weights": identity} if "weights" in extra else extra}


def _inside(path: Path, folder: Path) -> None:
    """InputError when ``path`` is a link that leads out of the model folder. A Hugging Face cache snapshot
    (``…/snapshots/<commit>/``) links its files to the repository's ``blobs/``, which is allowed."""
    target = path.resolve()
    roots = [folder.resolve()]
    if folder.parent.name == "snapshots":
        roots.append((folder.parent.parent / "blobs").resolve())
    if not any(target.is_relative_to(root) for root in roots):
        raise InputError(f"{path}: links to {target}, outside the model folder; a model folder holds its own "
                         "files (copy them in instead of linking)")


def _verify(tensors: Mapping[str, torch.Tensor], recorded: Any, weights_path: Path, config_path: Path) -> None:
    """Each tensor of model.safetensors has the SHA-256 config.json records for it."""
    if not isinstance(recorded, Mapping):
        raise InputError(f"{config_path}: 'checksums' must map tensor names to SHA-256 values")
    for name in sorted(set(tensors) | set(recorded)):
        if name not in tensors:
            raise InputError(f"{config_path}: checksums name tensor {name!r}, which {weights_path} does not hold")
        if name not in recorded:
            raise InputError(f"{weights_path}: tensor {name!r} has no checksum in {config_path}")
        if tensor_digest(tensors[name]) != recorded[name]:
            raise InputError(f"{weights_path}: tensor {name!r} does not match its SHA-256 in {CONFIG}: its data is "
                             "damaged (a bad disk or an incomplete download?); fetch the model folder again")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
