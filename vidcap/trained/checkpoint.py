"""Checkpoints: written atomically, read as untrusted files.

A checkpoint is a ``torch.save``d dict of plain data only — tensors, dicts, lists, tuples, strings,
numbers, booleans, None — plus ``format`` (:data:`FORMAT`) and ``vidcap_version``, added by
:func:`save_checkpoint`. Plain data is what ``torch.load(weights_only=True)`` accepts, so
:func:`load_checkpoint` never needs to unpickle arbitrary objects: a file crafted to run code when
unpickled is refused, not executed.

Writing goes through a temporary file in the target's folder that is flushed, fsynced and
``os.replace``d over the target: a process killed mid-write leaves the previous ``last.pt`` intact
(at worst a stray ``*.tmp`` file next to it).

Every tensor's SHA-256 is recorded under ``checksums`` (``{"model/state/fc.weight": hex}``) and
verified on load, so damaged tensor data (a flipped byte on a bad disk or in a partial copy, which the
archive itself does not notice) is an error naming the tensor instead of a model that says something
else. Checkpoints written before checksums were recorded load unverified.

Loading raises :class:`~vidcap.errors.InputError` naming the file for: a missing or empty file, a
truncated or damaged archive, a file holding Python objects other than plain data (possibly malicious),
a file that is not a vidcap checkpoint, a checkpoint in another format version (the message names
the vidcap version that wrote it), and a tensor whose bytes differ from its recorded checksum.

Example:
    >>> import tempfile, torch
    >>> path = tempfile.mkdtemp() + "/last.pt"
    >>> save_checkpoint(path, {"model": {"w": torch.ones(2)}, "epoch": 3})
    >>> ckpt = load_checkpoint(path)
    >>> ckpt["epoch"], ckpt["format"], ckpt["model"]["w"].tolist()
    (3, 'vidcap-checkpoint/1', [1.0, 1.0])
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import torch

from vidcap import checks
from vidcap.errors import InputError, UsageError
from vidcap.files import write_atomic
from vidcap.version import __version__

FORMAT = "vidcap-checkpoint/1"
_PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.Size, torch.dtype, torch.device)
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive format is a zip file


def _check_plain(value: Any, where: str) -> None:
    """UsageError when ``value`` holds something ``torch.load(weights_only=True)`` would refuse."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (dict, OrderedDict)):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise UsageError(f"checkpoint {where}: key {k!r} is not a string or integer")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise UsageError(f"checkpoint {where}: a {type(value).__name__} is not plain data; store tensors, "
                     f"numbers, strings, lists and dicts (e.g. torch.from_numpy(array), OmegaConf.to_container(cfg))")


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 (hex) of a tensor's dtype, shape and bytes in C order: equal for equal tensors, whichever
    device or memory layout they had.

    Example:
        >>> tensor_digest(torch.zeros(2)) == tensor_digest(torch.zeros(2).cuda() if torch.cuda.is_available()
        ...                                                   else torch.zeros(4)[::2])
        True
        >>> tensor_digest(torch.zeros(2)) == tensor_digest(torch.zeros(2, dtype=torch.float64))
        False
    """
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    h = hashlib.sha256(f"{str(flat.dtype).removeprefix('torch.')}{list(tensor.shape)}".encode())
    h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return h.hexdigest()


def tensor_checksums(tree: Any, prefix: str = "") -> dict[str, str]:
    """``{path: tensor_digest}`` for every tensor in nested dicts/lists; paths join keys with ``/``.

    Example:
        >>> list(tensor_checksums({"model": {"fc.weight": torch.ones(2)}, "steps": [torch.zeros(1)]}))
        ['model/fc.weight', 'steps/0']
    """
    if isinstance(tree, torch.Tensor):
        return {prefix: tensor_digest(tree)}
    items = tree.items() if isinstance(tree, Mapping) else enumerate(tree) if isinstance(tree, (list, tuple)) else ()
    out: dict[str, str] = {}
    for key, value in items:
        out.update(tensor_checksums(value, f"{prefix}/{key}" if prefix else str(key)))
    return out


def verify_checksums(tree: Any, recorded: Any, source: str) -> None:
    """InputError naming ``source`` and the tensor when a tensor of ``tree`` is missing from ``recorded``,
    is recorded but absent, or has other bytes than its recorded checksum (damaged data)."""
    if not isinstance(recorded, Mapping):
        raise InputError(f"{source}: its tensor checksums are not a table of names and SHA-256 values")
    found = tensor_checksums(tree)
    for name in sorted(set(found) | set(recorded)):
        if name not in recorded:
            raise InputError(f"{source}: tensor {name!r} has no recorded checksum (added after it was written?)")
        if name not in found:
            raise InputError(f"{source}: tensor {name!r} is recorded but missing (damaged or edited file)")
        if found[name] != recorded[name]:
            raise InputError(f"{source}: tensor {name!r} does not match its recorded SHA-256: its data is "
                             "damaged (a bad disk or an incomplete copy?); copy the file again from its source")


def check_finite(tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """InputError naming ``source`` and the first tensor holding NaN or ±Inf (a model's weights, a
    normaliser's statistics): such a model would caption garbage without saying so. Each tensor goes
    through :func:`vidcap.checks.check_finite`, the one finite check.

    Example:
        >>> check_finite({"fc.bias": torch.tensor([0.0, float("nan")])}, "best.pt")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: best.pt: tensor 'fc.bias': 1 non-finite value (NaN or infinity) of 2, first at index (1,)
    """
    for name, tensor in tensors.items():
        if isinstance(tensor, torch.Tensor):
            checks.check_finite(tensor, f"{source}: tensor {name!r}")


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Atomically write ``payload`` (plain data, see the module docstring) with ``format``,
    ``vidcap_version`` and the tensors' ``checksums`` added; the folder is created if needed.

    Example:
        >>> save_checkpoint("runs/x/last.pt", {"model": model.state_dict(), "epoch": 1})  # doctest: +SKIP
    """
    if not isinstance(payload, Mapping):
        raise UsageError(f"checkpoint payload must be a dict, got a {type(payload).__name__}")
    data = {**{k: v for k, v in payload.items() if k != "checksums"}, "format": FORMAT,
            "vidcap_version": __version__}
    _check_plain(data, "payload")
    data["checksums"] = tensor_checksums(data)
    write_atomic(path, lambda f: torch.save(data, f))


def load_checkpoint(path: str | os.PathLike[str], *, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` without unpickling arbitrary objects.

    Example:
        >>> load_checkpoint("runs/x/best.pt")["epoch"]   # doctest: +SKIP
        12
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found" if not path.exists() else f"{path}: not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_ZIP_MAGIC))
    except OSError as err:
        raise InputError(f"{path}: cannot read checkpoint ({err})") from None
    if not head:
        raise InputError(f"{path}: empty file, not a checkpoint (an interrupted copy?)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols of foreign files
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for damaged, foreign and crafted files
        raise _load_error(path, head, err) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a vidcap checkpoint (it holds a {type(data).__name__}, not a dict)")
    fmt = data.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith("vidcap-checkpoint/"):
            raise InputError(f"{path}: checkpoint format {fmt!r} written by vidcap "
                             f"{data.get('vidcap_version', '(unknown version)')}; this vidcap {__version__} "
                             f"reads {FORMAT!r}. Use the vidcap version that wrote it")
        raise InputError(f"{path}: not a vidcap checkpoint (format {fmt!r}; expected {FORMAT!r})")
    if "checksums" in data:  # older checkpoints have none: they load unverified
        recorded = data.pop("checksums")
        verify_checksums(data, recorded, str(path))
    return data


def _load_error(path: Path, head: bytes, err: Exception) -> InputError:
    """The InputError for a file ``torch.load(weights_only=True)`` failed on."""
    text = str(err)
    refused = isinstance(err, pickle.UnpicklingError) and "weights only" in text.lower()
    found = re.search(r"GLOBAL (\S+)", text)
    if refused and found:  # it names a Python callable: code would run on a full unpickle
        return InputError(f"{path}: refused to load: it holds Python objects other than tensors and plain data "
                          f"({found.group(1)}), which could run code when unpickled. vidcap checkpoints never "
                          f"do; only use checkpoints from sources you trust")
    if head != _ZIP_MAGIC:
        what = "a raw pickle" if head[:1] == b"\x80" else "not a PyTorch archive"
        return InputError(f"{path}: not a vidcap checkpoint ({what}; vidcap writes PyTorch zip archives)")
    if refused:
        return InputError(f"{path}: refused to load: its data is not plain tensors and values "
                          f"({_first_line(err)}); only use checkpoints from sources you trust")
    return InputError(f"{path}: truncated or damaged checkpoint ({_first_line(err)})")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
