"""ResNet-18/34/50/101/152 backbones (torchvision): a global ``frame`` stream, optional grid and bilinear pool.

Streams: ``frame`` (D,) — the global average pool before the classifier (D = 512 for resnet18/34,
2048 otherwise); with ``grid=g``, also ``grid`` (g*g, D) — the last feature map average-pooled to g×g,
row-major; with ``second_order=STAGE``, also ``bilinear`` (see below). Preprocessing follows the
weights' own ``transforms()`` by default (``fit="crop"``): shorter side to its resize/crop ratio of the
input size (256/224 for ``IMAGENET1K_V1`` and random weights, 232/224 for ``IMAGENET1K_V2``), centre
crop, its mean/std; releases with V1's numbers keep the OpenCV resizer vidcap always used for them (their
stores stay valid), others resize as torchvision does. The crop drops the sides of wide frames — a third of a 4:3 frame's width at 64
pixels, more of 16:9 — and with them whatever is there; ``fit="stretch"`` resizes the whole frame to the
square input instead, ``fit="letterbox"`` keeps its aspect ratio and pads with the weights' mean colour,
``fit="short"`` resizes the shorter side to the input size itself (no resize margin) and takes the centre
square: what hobincar/pytorch-video-feature-extractor's ``resize_frame`` did from 2019 until a63229c (2021).

Weights: ``imagenet`` is torchvision's DEFAULT release (``IMAGENET1K_V2`` for resnet50/101/152, ``V1``
for resnet18/34); ``IMAGENET1K_V1`` names the original ImageNet weights, which the 2015–2018 captioning
papers and v-iashin/video_features use; ``none`` gives seeded random weights; any other value is a
state-dict file. A file that is a copy of a torchvision release (same SHA-256 prefix as its published
name) has that release's identity in the feature spec, so a local copy and the download agree.

Three options change what is pooled. ``stage`` takes the map of an earlier stage (``conv1`` — the first
convolution with its batch norm and ReLU, at half the input resolution —, ``stem`` — conv1 and its max
pool —, ``layer1`` … ``layer4``, the default) — earlier stages keep more of colour and position, and cost
less to compute. ``pyramid=p`` makes ``frame`` a spatial pyramid: average pools on 1×1, 2×2 …
p×p grids, concatenated (D·(1 + 4 + … + p²) values), so a frame-level feature keeps where things are.
``second_order=STAGE`` adds the ``bilinear`` stream: that stage's second-order pool, the upper
triangle of the channels' mean outer product over positions, signed square root, L2-normalised
(C·(C+1)/2 values; Lin et al., "Bilinear CNN models", ICCV 2015). It records which local patterns
occur *together*, e.g. two edge orientations meeting at a corner, which average pooling loses; with
random weights it is what carries an object's shape (docs/notes/demo-research-log.md). It is a stream of its own, not
part of ``frame``, because it is large and redundant: training can PCA-whiten it (``data.whiten``)
without touching the positional ``frame`` values.

Example:
    >>> from vidcap.features import get_backbone
    >>> bb = get_backbone("resnet50", weights="none", input_size=64)
    >>> bb.streams
    {'frame': (2048,)}
"""
from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from vidcap.errors import InputError, UsageError
from vidcap.features.backbone import (BACKBONES, DEFAULT_SEED, Backbone, file_digest, seeded,
                                      weights_file)
from vidcap.features.transforms import Letterbox, ResizeCenterCrop, Stretch, VideoResizeCenterCrop

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
STAGES = ("conv1", "stem", "layer1", "layer2", "layer3", "layer4")
# The modules each stage adds to the one before it: "conv1" is the first convolution, its batch norm and
# ReLU; "stem" adds the max pool (so "stem" is what torchvision's ResNet feeds to layer1).
_STAGE_MODULES = {"conv1": ("conv1", "bn1", "relu"), "stem": ("maxpool",),
                  **{f"layer{i}": (f"layer{i}",) for i in range(1, 5)}}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The evaluation numbers of IMAGENET1K_V1 (resize 256 for the 224 crop, bilinear, ImageNet mean/std).
# Random weights use them, and releases whose transforms() has exactly these numbers keep the OpenCV
# resizer vidcap always used for them: their feature specs, and the stores written with them, stay valid.
_OPENCV_NUMBERS = (256, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD)


def preprocessing(release: WeightsEnum | None, size: int, fit: str) -> tuple[Any, dict[str, Any]]:
    """``(transform, record)`` for the weights ``release`` (None: random or unknown weights) at input
    ``size`` with ``fit``: resize/crop ratio, interpolation, mean and std come from the release's
    ``transforms()``; ``fit="crop"`` scales its resize to ``size`` (232/224 for ``IMAGENET1K_V2``) and
    resizes with torchvision's own kernel, the other fits take the mean, std and
    letterbox colour. ``record`` goes into the feature spec.

    Example:
        >>> from torchvision.models import ResNet50_Weights
        >>> transform, record = preprocessing(ResNet50_Weights.IMAGENET1K_V2, 224, "crop")
        >>> record["resize"], record["interpolation"], record["source"]
        (232, 'bilinear', 'ResNet50_Weights.IMAGENET1K_V2.transforms()')
        >>> preprocessing(None, 64, "crop")[1]["resize"]
        73
    """
    numbers = _OPENCV_NUMBERS
    if release is not None:
        preset = release.transforms()
        numbers = (int(preset.resize_size[0]), int(preset.crop_size[0]), preset.interpolation.value,
                   tuple(preset.mean), tuple(preset.std))
    resize_size, crop_size, interpolation, mean, std = numbers
    resize = round(size * resize_size / crop_size)
    record: dict[str, Any] = {"colour": "RGB", "input_size": size, "fit": fit, "resize": None,
                              "interpolation": "area (shrink) / linear (enlarge)",
                              "mean": list(mean), "std": list(std)}
    if fit == "crop" and numbers != _OPENCV_NUMBERS:
        record.update(resize=resize, interpolation=interpolation, antialias=True,
                      source=f"{release}.transforms()")
        return VideoResizeCenterCrop(size=size, resize=(resize,), interpolation=interpolation, antialias=True), record
    transform = {"crop": lambda: ResizeCenterCrop(size=size, resize=resize),
                 "stretch": lambda: Stretch(size=size),
                 "short": lambda: ResizeCenterCrop(size=size, resize=size),
                 "letterbox": lambda: Letterbox(imgsz=size, pad_value=tuple(round(255 * m) for m in mean)),
                 }[fit]()
    record["resize"] = getattr(transform, "resize", None)
    return transform, record


FITS = ("crop", "stretch", "short", "letterbox")  # how a frame is fitted to the square input: module docstring

def _release(name: str, weights: str) -> WeightsEnum | None:
    """``imagenet`` → torchvision's DEFAULT weights of ``name``; a release name (``IMAGENET1K_V1``) → that
    release; anything else → None (a file path)."""
    releases = torchvision.models.get_model_weights(name)
    if weights == "imagenet":
        return releases.DEFAULT
    return releases.__members__.get(weights)


def _release_of(name: str, identity: str) -> WeightsEnum | None:
    """The torchvision release a weights identity names (``ResNet50_Weights.IMAGENET1K_V2``, also for a
    local copy of its file); None for random weights and files of other origin."""
    member = TorchvisionWeights.weights_named(name, identity)
    releases = torchvision.models.get_model_weights(name)
    return releases[member] if member in releases.__members__ else None


def identity_of_digest(name: str, digest: str) -> str:
    """The identity of a ``name`` weights file with SHA-256 ``digest``: the torchvision release it is a copy
    of (torchvision names its files after the first hex digits of their SHA-256), else ``sha256:<hex>``.

    Example:
        >>> identity_of_digest("resnet18", "f37072fd" + "0" * 56)  # resnet18-f37072fd.pth
        'ResNet18_Weights.IMAGENET1K_V1'
        >>> identity_of_digest("resnet18", "ab" * 32)
        'sha256:abababababababababababababababababababababababababababababababab'
    """
    for release in torchvision.models.get_model_weights(name):
        prefix = Path(release.url).stem.rpartition("-")[2]
        if prefix and digest.startswith(prefix):
            return str(release)
    return f"sha256:{digest}"


def _pretrained(name: str, release: WeightsEnum) -> nn.Module:
    """A torchvision release through the standard hub cache ($TORCH_HOME/hub/checkpoints)."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(release.url).name
    try:
        return torchvision.models.get_model(name, weights=release)
    except urllib.error.URLError as err:  # offline (or the download was refused) and nothing cached
        raise InputError(
            f"{name} pretrained weights ({release}) are not available: downloading {release.url} failed "
            f"({err.reason}). Offline, place that file at {cached} (the folder follows $TORCH_HOME), "
            f"or pass --weights PATH to a state dict, or --weights none for random weights") from None
    except RuntimeError as err:  # a damaged file in the cache
        raise InputError(f"{cached}: not a loadable {name} state dict ({err}); delete it or replace it") from None


def _from_file(name: str, file: Path) -> nn.Module:
    model = torchvision.models.get_model(name, weights=None)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # torch.load and load_state_dict raise many types for a wrong file
        raise InputError(f"weights file {file}: not a {name} state dict ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None
    return model


def load_resnet(name: str, weights: str, seed: int) -> tuple[nn.Module, str, str]:
    """``(model, weights as given for rebuilding, weights identity)`` for ``none``, ``imagenet``, a
    torchvision release name of ``name`` or a state-dict file.

    Example:
        >>> load_resnet("resnet18", "none", 0)[1:]
        ('none', 'none(seed=0)')
    """
    if weights == "none":
        with seeded(seed):
            return torchvision.models.get_model(name, weights=None), "none", f"none(seed={seed})"
    release = _release(name, weights)
    if release is not None:
        return _pretrained(name, release), weights, str(release)
    file = weights_file(weights)
    return _from_file(name, file), str(file), identity_of_digest(name, file_digest(file))


class TorchvisionWeights(Backbone):
    """Weights by identity for torchvision's model families (ResNet, the Kinetics video models): a release
    identity such as ``ResNet18_Weights.IMAGENET1K_V1`` or ``R2Plus1D_18_Weights.KINETICS400_V1`` names the
    release torchvision fetches from its fixed URL (hash-checked, tensors only) or finds in $TORCH_HOME's
    cache; a local copy of a release file is recognised as that release (:func:`identity_of_digest`)."""

    @classmethod
    def weights_named(cls, name: str, identity: str) -> str | None:
        """A torchvision release identity (``ResNet18_Weights.IMAGENET1K_V1``) → its release name, fetched by
        torchvision from its fixed URL (hash-checked, tensors only) or taken from $TORCH_HOME's cache.

        Example:
            >>> TorchvisionWeights.weights_named("resnet18", "ResNet18_Weights.IMAGENET1K_V1")
            'IMAGENET1K_V1'
            >>> TorchvisionWeights.weights_named("resnet18", "ResNet50_Weights.IMAGENET1K_V1") is None
            True
        """
        releases = torchvision.models.get_model_weights(name)
        family, _, member = identity.partition(".")
        if family == releases.__name__ and member in releases.__members__:
            return member
        return super().weights_named(name, identity)

    @classmethod
    def identity_of_file(cls, name: str, file: Path) -> str:
        return identity_of_digest(name, file_digest(file))


class ResNetBackbone(TorchvisionWeights):
    """A torchvision ResNet without its classifier; see the module docstring for the streams.

    Options:
        grid: also store the last map average-pooled to grid x grid cells (the grid stream), 1 to 7.
        input_size: side of the square model input in pixels, 32 to 1024.
        fit: how a frame becomes the square input: crop (the weights' centre crop), stretch, short or letterbox.
        stage: the stage whose map is pooled into frame: conv1, stem, layer1 ... layer4.
        pyramid: frame concatenates average pools on 1x1 ... pyramid x pyramid grids (1 to 4; 1 = global pool).
        second_order: add the bilinear stream: this stage's normalised second-order pool (unset: none).
    """

    def __init__(self, name: str, *, weights: str, device: torch.device, grid: int | None = None,
                 input_size: int = 224, fit: str = "crop", stage: str = "layer4", pyramid: int = 1,
                 second_order: str | None = None, dtype: str | None = None, seed: int = DEFAULT_SEED):
        if grid is not None and not 1 <= int(grid) <= 7:
            raise UsageError(f"grid={grid!r}: choose a grid size from 1 to 7")
        if stage not in STAGES:
            raise UsageError(f"stage={stage!r}: choose one of {', '.join(STAGES)}")
        if second_order is not None and second_order not in STAGES:
            raise UsageError(f"second_order={second_order!r}: choose one of {', '.join(STAGES)} (or leave it unset)")
        if isinstance(pyramid, bool) or not 1 <= int(pyramid) <= 4:
            raise UsageError(f"pyramid={pyramid!r}: choose 1 (global pool) to 4 pyramid levels")
        if not 32 <= int(input_size) <= 1024:
            raise UsageError(f"input_size={input_size!r}: choose 32 to 1024 pixels")
        if fit not in FITS:
            raise UsageError(f"fit={fit!r}: choose one of {', '.join(FITS)}")
        model, weights, weights_id = load_resnet(name, weights, seed)
        transform, record = preprocessing(_release_of(name, weights_id), int(input_size), fit)
        super().__init__(device=device, dtype=dtype, mean=tuple(record["mean"]), std=tuple(record["std"]))
        self.weights, self.weights_id = weights, weights_id
        self.name = name
        self.grid = int(grid) if grid else None
        self.stage, self.pyramid, self.second_order = stage, int(pyramid), second_order
        # The stages up to the deeper of the two that are pooled (not the global pool: pooling is done here).
        last = max(STAGES.index(stage), STAGES.index(second_order) if second_order else 0)
        self.stages = nn.ModuleDict({name: nn.Sequential(*(getattr(model, m) for m in _STAGE_MODULES[name]))
                                     for name in STAGES[:last + 1]})
        dim = _channels(model, stage)
        cells = sum(level * level for level in range(1, self.pyramid + 1))
        pairs = 0
        if second_order:  # (C·(C+1)/2 values: the Gram matrix's upper triangle)
            channels = _channels(model, second_order)
            self.register_buffer("_pairs", torch.triu_indices(channels, channels), persistent=False)
            pairs = self._pairs.size(1)
        self.streams = {"frame": (cells * dim,)}
        if pairs:
            self.streams["bilinear"] = (pairs,)
        if self.grid:
            self.streams["grid"] = (self.grid * self.grid, dim)
        self.input_size, self.fit = int(input_size), fit
        self.transform, self.preprocessing = transform, record
        self._place()

    def forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised (B, 3, S, S) → ``frame`` (B, cells·D), optionally ``bilinear`` (B, C·(C+1)/2) and
        ``grid`` (B, g*g, D)."""
        maps = {}
        x = batch
        for name, stage in self.stages.items():
            x = maps[name] = stage(x)
        fmap = maps[self.stage]
        levels = [fmap.mean(dim=(2, 3))] + [  # cells row-major, each cell's D values together
            nn.functional.adaptive_avg_pool2d(fmap, level).flatten(2).transpose(1, 2).flatten(1)
            for level in range(2, self.pyramid + 1)]
        out = {"frame": torch.cat(levels, dim=1) if len(levels) > 1 else levels[0]}
        if self.second_order:
            out["bilinear"] = self._bilinear(maps[self.second_order])
        if self.grid:
            out["grid"] = nn.functional.adaptive_avg_pool2d(fmap, self.grid).flatten(2).transpose(1, 2)
        return out

    def _bilinear(self, fmap: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, C·(C+1)/2): mean outer product over positions, signed sqrt, L2 norm."""
        flat = fmap.flatten(2).float()  # float32 even under autocast: squares of activations overflow fp16
        gram = torch.bmm(flat, flat.transpose(1, 2)) / flat.size(2)
        values = gram[:, self._pairs[0], self._pairs[1]]
        values = values.sign() * values.abs().sqrt()
        return nn.functional.normalize(values, dim=1).to(fmap.dtype)

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "input_size": self.input_size, "fit": self.fit,
                "resize": self.preprocessing["resize"], "grid": self.grid, "stage": self.stage,
                "pyramid": self.pyramid, "second_order": self.second_order,
                "normalization": {"mean": self.preprocessing["mean"], "std": self.preprocessing["std"]}}


def _channels(model: nn.Module, stage: str) -> int:
    """Output channels of a stage: conv1's (conv1, stem) or its last block's last conv."""
    if stage in ("conv1", "stem"):
        return model.conv1.out_channels
    block = getattr(model, stage)[-1]
    return (block.conv3 if hasattr(block, "conv3") else block.conv2).out_channels


BACKBONES.register(*RESNETS)(ResNetBackbone)
