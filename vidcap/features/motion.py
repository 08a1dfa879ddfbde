"""Motion features: torchvision's Kinetics-400 video models over windows aligned with the sampled frames.

Names: ``r2plus1d_18``, ``r3d_18``, ``mc3_18`` (Tran et al., "A closer look at spatiotemporal
convolutions", CVPR 2018), ``s3d`` (Xie et al., ECCV 2018), ``mvit_v2_s`` (Li et al., CVPR 2022),
``swin3d_t``, ``swin3d_s``, ``swin3d_b`` (Liu et al., "Video Swin Transformer", CVPR 2022). Each reads a
window of ``clip_len`` frames ``clip_stride`` apart around every sampled frame position
(:mod:`vidcap.video.clip_windows`) and gives one ``motion`` vector per window: the pooled feature its
classifier reads (512-d for the 18-layer ResNets, 1024 S3D, 768 MViT-V2-S and Swin3D-T/S, 1024 Swin3D-B).
So a store of these made with ``--frames T`` has T rows, one per frame position of a ResNet or CLIP
store made with the same ``--frames``; training on both reads ``[appearance; motion]`` step by step
(``data.features: [resnet/, r2plus1d/]``, ``data.streams: [frame, motion]``). The stream is called
``motion``, not ``frame``: a plain ``frame`` request keeps meaning the image features.

Preprocessing is the weights' own ``transforms()`` (torchvision's ``VideoClassification``): resize
(128×171 for the ResNets, shorter side 256 for MViT/Swin3D, 256×256 for S3D; bilinear, no
antialiasing), centre crop (112 or 224), Kinetics mean/std. ``input_size`` scales the crop and resize
together (e.g. 56 for cheap CPU runs); MViT takes only its 224-pixel, 16-frame input, S3D at least 224
pixels and 14 frames. ``clip_len`` defaults to the clip length torchvision evaluated the weights with
(16 for the ResNets and MViT, 32 for Swin3D) and to 64 frames for S3D (its paper's training clips;
torchvision's evaluation used 128-frame clips). Window placement, ends and short clips are recorded in
the feature spec's ``preprocessing``; each stored video also keeps its window frame numbers
(``FeatureStore.info(id)["window_indices"]``).

Weights: ``kinetics400`` (the default) is torchvision's ``KINETICS400_V1``; any release name of the
model is taken too (``swin3d_b``: ``KINETICS400_IMAGENET22K_V1``, ImageNet-22K pretraining); ``none``
gives seeded random weights; any other value is a state-dict file, loaded tensors-only and identified
by its SHA-256 (a copy of a torchvision release gets that release's identity). Loading goes through
:func:`vidcap.features.resnet.load_resnet` (torchvision's hub cache, ``$TORCH_HOME/hub/checkpoints``),
so offline the error names the exact file to place there.

Example:
    >>> from vidcap.features import get_backbone
    >>> bb = get_backbone("r3d_18", weights="none", input_size=32, clip_len=4)
    >>> bb.streams, bb.windows
    ({'motion': (512,)}, ClipWindows(length=4, stride=1))
    >>> bb.features(np.zeros((3, 4, 48, 64, 3), np.uint8))["motion"].shape   # 3 windows of 4 frames
    (3, 512)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torchvision
from torch import nn

from vidcap.errors import UsageError
from vidcap.features.backbone import BACKBONES, DEFAULT_SEED
from vidcap.features.resnet import TorchvisionWeights, load_resnet
from vidcap.features.transforms import VideoResizeCenterCrop
from vidcap.video.clip_windows import ClipWindows

KINETICS = "kinetics400"
STREAM = "motion"


def _drop(attr: str, index: int | None = None) -> Callable[[nn.Module], None]:
    """A head remover: replaces ``model.<attr>`` (or its ``[index]``) with Identity."""
    def drop(model: nn.Module) -> None:
        if index is not None:
            getattr(model, attr)[index] = nn.Identity()
        else:
            setattr(model, attr, nn.Identity())
    return drop


@dataclass(frozen=True)
class VideoModel:
    """What vidcap needs to know of one torchvision video model beyond its weights' meta."""

    strip: Callable[[nn.Module], None]  # removes the classifier
    dim: int                            # the pooled feature size it then returns
    clip_len: int                      # default frames per window
    fixed: bool                        # only its native clip length and input size work (MViT)
    use: str                           # when to use it (docs, README)


_RESNET3D = _drop("fc")
MODELS: dict[str, VideoModel] = {
    "r2plus1d_18": VideoModel(_RESNET3D, 512, 16, False,
                              "the usual motion stream of ResNet+3D captioners, (2+1)D convolutions"),
    "r3d_18": VideoModel(_RESNET3D, 512, 16, False, "plain 3D ResNet-18 (C3D's successor)"),
    "mc3_18": VideoModel(_RESNET3D, 512, 16, False, "mixed 3D/2D convolutions, fewest parameters (11.7 M)"),
    # S3D's classifier is a 1×1×1 convolution followed by a mean over positions: without it, the forward
    # pass averages the pooled map, which is what that convolution reads.
    "s3d": VideoModel(_drop("classifier", 1), 1024, 64, False, "separable 3D Inception (I3D's faster successor)"),
    "mvit_v2_s": VideoModel(_drop("head", 1), 768, 16, True, "multiscale vision transformer, 16 frames at 224 px only"),
    "swin3d_t": VideoModel(_drop("head"), 768, 32, False, "Video Swin-T: 10 points above the ResNets on Kinetics at similar compute"),
    "swin3d_s": VideoModel(_drop("head"), 768, 32, False, "Video Swin-S: about twice Swin-T's compute"),
    "swin3d_b": VideoModel(_drop("head"), 1024, 32, False,
                           "Video Swin-B; KINETICS400_IMAGENET22K_V1 weights add ImageNet-22K pretraining"),
}


def _release_name(weights: str) -> str:
    """``kinetics400`` → the release name ``load_resnet`` resolves (``KINETICS400_V1``); others as given."""
    return "KINETICS400_V1" if weights == KINETICS else weights


class VideoBackbone(TorchvisionWeights):
    """A torchvision video classifier without its classifier, over frame windows; see the module docstring."""

    default_weights = KINETICS
    # Windows per forward pass: each is a clip of 16 to 64 frames, so a few already fill the caches
    # (and a batch of 32-frame 224-pixel Swin3D windows needs gigabytes of activations).
    batch_sizes: ClassVar[dict[str, int]] = {"cpu": 2, "cuda": 8}

    def __init__(self, name: str, *, weights: str, device: torch.device, clip_len: int, clip_stride: int = 1,
                 input_size: int | None = None, dtype: str | None = None, seed: int = DEFAULT_SEED):
        spec = MODELS[name]
        release = torchvision.models.get_model_weights(name).KINETICS400_V1
        preset = release.transforms()
        crop = int(preset.crop_size[0])
        size = crop if input_size is None else input_size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 16 <= size <= 512:
            raise UsageError(f"{name}: input_size={input_size!r}: choose 16 to 512 pixels")
        windows = ClipWindows(clip_len, clip_stride)  # UsageError for bad values
        min_size = max(release.meta.get("min_size", (1, 1)))
        min_len = release.meta.get("min_temporal_size") or 1
        if spec.fixed and (clip_len != MODELS[name].clip_len or size != crop):
            raise UsageError(f"{name} takes only {MODELS[name].clip_len}-frame clips at {crop} pixels "
                             f"(got clip_len={clip_len}, input_size={size}): leave both unset")
        if size < min_size or clip_len < min_len:
            raise UsageError(f"{name} needs input_size >= {min_size} and clip_len >= {min_len} "
                             f"(got {size} and {clip_len})")
        super().__init__(device=device, dtype=dtype, mean=tuple(preset.mean), std=tuple(preset.std))
        self.windows = windows
        model, given, self.weights_id = load_resnet(name, _release_name(weights), seed)
        self.weights = weights if given == _release_name(weights) else given
        self.name, self.model = name, model
        spec.strip(model)
        self.streams = {STREAM: (spec.dim,)}
        # The preset's resize, scaled with the crop (128×171 for 112 → 64×86 for 56).
        resize = tuple(round(r * size / crop) for r in preset.resize_size)
        interpolation = preset.interpolation.value
        self.transform = VideoResizeCenterCrop(size=size, resize=resize, interpolation=interpolation)
        self.preprocessing = {"colour": "RGB", "input_size": size, "fit": "crop", "resize": list(resize),
                              "interpolation": interpolation, "antialias": False,
                              "mean": list(preset.mean), "std": list(preset.std),
                              "source": f"{type(release).__name__}.transforms()", **self.windows.describe()}
        self.eval().requires_grad_(False).to(self.device)

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 windows (B, L, 3, S, S) → float (B, 3, L, S, S) on the device, as the models take them."""
        x = batch.to(self.device, non_blocking=True).float()
        x = (x - self._mean) / self._std
        return x.permute(0, 2, 1, 3, 4).contiguous()

    def forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised (B, 3, L, S, S) → ``motion`` (B, D)."""
        return {STREAM: self.model(batch)}

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "weights_id": self.weights_id, "preprocessing": self.preprocessing}

    @staticmethod
    def summary(name: str) -> str:
        """``vidcap list backbones``' line (:func:`summary`)."""
        return summary(name)


def _builder(model: str) -> type[VideoBackbone]:
    """The registered builder of one model: a subclass whose ``clip_len`` default is the model's own, so
    ``backbone_options`` and the spec's ``options`` show it (and the class methods every backbone family
    has, such as how it names weights, are inherited)."""
    class Builder(VideoBackbone):
        """A torchvision Kinetics video model over frame windows (vidcap/features/motion.py).

        Options:
            clip_len: frames per window around each sampled frame (default: the model's clip length).
            clip_stride: frames between a window's consecutive frames (1 = consecutive frames).
            input_size: crop side in pixels, 16 to 512, the resize scaled with it (unset: the weights' crop).
        """

        def __init__(self, name: str, *, weights: str, device: torch.device, clip_len: int = MODELS[model].clip_len,
                     clip_stride: int = 1, input_size: int | None = None, dtype: str | None = None,
                     seed: int = DEFAULT_SEED):
            super().__init__(name, weights=weights, device=device, clip_len=clip_len, clip_stride=clip_stride,
                             input_size=input_size, dtype=dtype, seed=seed)

    Builder.__name__ = Builder.__qualname__ = f"VideoBackbone[{model}]"
    return Builder


def summary(name: str) -> str:
    """One line for ``vidcap list backbones``: clip length, input, feature size, weights.

    Example:
        >>> summary("r2plus1d_18").split("; ")[:2]
        ['motion 512-d per 16-frame window at 112 px', 'weights kinetics400 (R2Plus1D_18_Weights.KINETICS400_V1, Kinetics-400 top-1 67.5%)']
    """
    release = torchvision.models.get_model_weights(name).KINETICS400_V1
    return (f"{STREAM} {MODELS[name].dim}-d per {MODELS[name].clip_len}-frame window at "
            f"{release.transforms().crop_size[0]} px; weights {KINETICS} ({release}, Kinetics-400 top-1 "
            f"{release.meta['_metrics']['Kinetics-400']['acc@1']:.1f}%); {MODELS[name].use}")


for _name in MODELS:
    BACKBONES.register(_name)(_builder(_name))
