"""The feature spec: everything that decides the numbers in a feature store, in one immutable record.

A store's ``meta.json`` holds the spec of its features; a checkpoint holds the spec of every store it
was trained on. Wherever features meet a model (training on several stores, ``train.init``, resuming,
``vidcap eval --features``, ``vidcap caption``) the two specs are compared with :meth:`FeatureSpec.require`,
and a difference is an error that names the key and both values: a model never silently reads features
made another way (other frame sampling, other preprocessing, other weights, other stored precision).

Fields:
    backbone: registry name (``resnet152``, ``yolov8x``, ``efficientnet-lite0`` …).
    weights: identity of the weights used: a torchvision enum (``ResNet152_Weights.IMAGENET1K_V1``),
        ``none(seed=0)`` for seeded random weights, ``sha256:<hex>`` of a weights file, or what the
        backbone family uses to name a release; two files with the same bytes have the same identity.
    options: every builder option (defaults included), so ``get_backbone(backbone, **options)`` rebuilds it.
    preprocessing: how a decoded RGB frame becomes the model input (size, fit, interpolation, mean/std …).
    sampling: :class:`vidcap.video.Sampling` as a dict (frames or fps, window).
    dtypes: stored dtype of each stream (``float16``; integer streams ``int16``).
    format: the store format version.

Example:
    >>> a = FeatureSpec(backbone="resnet18", weights="none(seed=0)", options={"input_size": 64},
    ...                 preprocessing={"fit": "crop"}, sampling={"frames": 8}, dtypes={"frame": "float16"})
    >>> FeatureSpec.from_dict(a.to_dict()) == a
    True
    >>> b = a.replace(sampling={"frames": 6})
    >>> a.differences(b)
    ['sampling.frames: 8 vs 6']
    >>> b.require(a, "store feats/", "model best.pt")
    Traceback (most recent call last):
    ...
    vidcap.errors.InputError: store feats/ was made differently from what model best.pt was trained on: sampling.frames: 6 vs 8. Re-extract the features with the model's settings (vidcap extract; see the model's feature spec), or use features made that way.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

from vidcap.errors import InputError

__all__ = ["FORMAT", "FeatureSpec"]

FORMAT = "vidcap-features/2"


def _frozen(value: Any) -> Any:
    """A canonical JSON round trip: tuples become lists, keys sorted, numpy scalars rejected."""
    return json.loads(json.dumps(value, sort_keys=True))


def _flat(tree: Any, prefix: str) -> dict[str, Any]:
    if isinstance(tree, Mapping) and tree:
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}.{k}"))
        return out
    return {prefix: tree}


@dataclass(frozen=True)
class FeatureSpec:
    """How a store's features were made; see the module docstring."""

    backbone: str
    weights: str
    options: Mapping[str, Any]
    preprocessing: Mapping[str, Any]
    sampling: Mapping[str, Any]
    dtypes: Mapping[str, str]
    format: str = FORMAT

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _frozen(getattr(self, f.name)))

    @classmethod
    def external(cls, backbone: str, dtypes: Mapping[str, str], *, frames: int | None = None,
                 fps: float | None = None, weights: str = "external", **preprocessing: Any) -> "FeatureSpec":
        """The spec of features made outside vidcap (another tool's precomputed features, or generated
        ones): what is known is named; a store of them is compared like any other.

        Example:
            >>> FeatureSpec.external("resnet152", {"frame": "float16"}, frames=28).sampling["frames"]
            28
        """
        sampling = {"frames": frames, "fps": fps, "start": None, "end": None}
        return cls(backbone=backbone, weights=weights, options={}, preprocessing=preprocessing,
                   sampling=sampling, dtypes=dtypes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what ``meta.json`` and checkpoints hold)."""
        return _frozen(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "feature spec") -> "FeatureSpec":
        """Rebuild from :meth:`to_dict` output; InputError naming ``source`` for anything else."""
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(data, Mapping) or sorted(data) != sorted(names):
            got = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise InputError(f"{source}: not a vidcap feature spec (expected keys {', '.join(names)}; got {got}). "
                             "It was written by an older vidcap or damaged: re-extract the features "
                             "with `vidcap extract` (and retrain on them)")
        if data["format"] != FORMAT:
            raise InputError(f"{source}: feature format {data['format']!r}; this vidcap reads {FORMAT!r}. "
                             "Re-extract the features with this version's `vidcap extract`")
        return cls(**{k: data[k] for k in names})

    def replace(self, **changes: Any) -> "FeatureSpec":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def differences(self, other: "FeatureSpec") -> list[str]:
        """``"key: mine vs other"`` for every leaf that differs (dotted keys, sorted)."""
        mine, theirs = _flat(self.to_dict(), ""), _flat(other.to_dict(), "")
        return [f"{k[1:]}: {json.dumps(mine.get(k))} vs {json.dumps(theirs.get(k))}"
                for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]

    def require(self, expected: "FeatureSpec", what: str, against: str) -> None:
        """Raise InputError unless this spec (of ``what``) equals ``expected`` (of ``against``)."""
        diff = self.differences(expected)
        if diff:
            raise InputError(f"{what} was made differently from what {against} was trained on: "
                             + "; ".join(diff) + ". Re-extract the features with the model's settings "
                             "(vidcap extract; see the model's feature spec), or use features made that way.")

    def describe(self) -> str:
        """One line for people, e.g. ``resnet18 (none(seed=0)), frames=8, fit=crop``."""
        samp = ", ".join(f"{k}={v}" for k, v in self.sampling.items() if v is not None)
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items() if v is not None)
        return f"{self.backbone} ({self.weights}), {samp}" + (f", {opts}" if opts else "")
