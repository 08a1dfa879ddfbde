"""Which feature streams a model sees, from one or more feature stores, and how one video's are read.

A model input stream is either *frame-like*, ``(T, D)`` per video (``frame``), or a *set* per frame,
``(T, K, D)`` (YOLO ``objects``, ResNet ``grid``). Streams are chosen by name:

* with one store, names are the store's own (``frame``, ``objects``; a backbone-prefixed request such as
  ``resnet152/frame`` is accepted too);
* with several stores (e.g. ResNet-152 frames + YOLOv8x objects), every stream is prefixed with its
  store's backbone (``resnet152/frame``, ``yolov8x/objects``). A plain requested name takes that stream
  from every store that has it; a prefixed one from that store only.

Validity masks: frame-like streams are valid on every stored frame; ``objects`` regions are valid where
the store's ``object_classes`` is ``>= 0`` (YOLO pads to K detections with class −1); other set streams
(``grid``) are valid everywhere. Integer/bookkeeping streams (``object_classes``, ``object_boxes``,
``object_scores``) are not model inputs.

Example:
    >>> f16 = {"spec": {"dtypes": {"frame": "float16", "objects": "float16", "object_classes": "int16"}}}
    >>> metas = [{"backbone": "resnet152", "dims": {"frame": [2048]}, **f16},
    ...          {"backbone": "yolov8x", "dims": {"frame": [640], "objects": [10, 640],
    ...                                            "object_classes": [10]}, **f16}]
    >>> [s.name for s in resolve_streams(metas, ["resnet152/frame", "objects"])]
    ['resnet152/frame', 'yolov8x/objects']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from vidcap.errors import InputError, UsageError

# Set streams whose validity comes from another stream of the same store (True where >= 0).
MASK_SOURCES = {"objects": "object_classes"}
# Streams that describe detections rather than being features.
NOT_INPUTS = frozenset({"object_classes", "object_boxes", "object_scores"})


@dataclass(frozen=True)
class Stream:
    """One model input stream: ``name`` in batches, ``store`` index, ``key`` inside that store,
    per-frame ``shape`` (``(D,)`` or ``(K, D)``) and the store key its mask comes from, if any."""

    name: str
    store: int
    key: str
    shape: tuple[int, ...]
    mask_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints); :meth:`from_dict` inverts it."""
        return {"name": self.name, "store": self.store, "key": self.key, "shape": list(self.shape),
                "mask_key": self.mask_key}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Stream":
        """Inverse of :meth:`to_dict`; InputError for anything else.

        Example:
            >>> Stream.from_dict(Stream("frame", 0, "frame", (512,)).to_dict()).input_dim
            512
        """
        try:
            return cls(str(data["name"]), int(data["store"]), str(data["key"]),
                       tuple(int(d) for d in data["shape"]), data.get("mask_key"))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"stream description {data!r:.80}: damaged ({err})") from None

    @property
    def input_dim(self) -> int | tuple[int, int]:
        """``D`` for frame-like streams, ``(K, D)`` for set streams (the models' ``input_dims``)."""
        return self.shape[0] if len(self.shape) == 1 else (self.shape[0], self.shape[1])


def resolve_streams(metas: Sequence[Mapping[str, Any]], requested: Sequence[str]) -> list[Stream]:
    """Model input streams named by ``requested`` over stores with these ``meta.json`` contents.

    UsageError when a name matches nothing (the message lists what there is), when two stores share a
    backbone (their prefixed names would clash) or when a stream is not a feature stream.
    """
    if isinstance(requested, str):
        requested = [requested]
    if not requested:
        raise UsageError("streams: choose at least one feature stream, e.g. [frame]")
    prefixed = len(metas) > 1
    backbones = [str(m.get("backbone", f"store{i}")) for i, m in enumerate(metas)]
    if prefixed and len(set(backbones)) != len(backbones):
        raise UsageError(f"features: stores from the same backbone cannot be combined ({', '.join(backbones)})")
    available: dict[str, Stream] = {}
    for i, meta in enumerate(metas):
        dims = meta.get("dims", {})
        for key, shape in dims.items():
            if key in NOT_INPUTS or str(meta["spec"]["dtypes"].get(key, "float16")).startswith("int"):
                continue
            shape = tuple(int(d) for d in shape)
            if len(shape) not in (1, 2):
                continue
            mask_key = MASK_SOURCES.get(key) if MASK_SOURCES.get(key) in dims else None
            name = f"{backbones[i]}/{key}" if prefixed else key
            available[name] = Stream(name, i, key, shape, mask_key)
    chosen: list[Stream] = []
    for want in requested:
        if want in available:
            matches = [available[want]]
        elif prefixed and "/" not in want:
            matches = [s for s in available.values() if s.key == want]
        elif not prefixed and want.partition("/")[0] == backbones[0] and want.partition("/")[2] in available:
            matches = [available[want.partition("/")[2]]]  # "resnet152/frame" with only that store
        else:
            matches = []
        if not matches:
            raise UsageError(f"streams: no feature stream {want!r} in the stores; available: "
                             f"{', '.join(available) or 'none'}")
        chosen.extend(s for s in matches if s not in chosen)
    return chosen


def frame_indices(count: int, frames: int | None) -> np.ndarray:
    """Indices of ``frames`` stored frames spread uniformly over ``count`` (all when ``frames`` is None
    or not smaller).

    Example:
        >>> frame_indices(10, 4).tolist()
        [0, 3, 6, 9]
    """
    if frames is None or count <= frames:
        return np.arange(count)
    return np.linspace(0, count - 1, frames).round().astype(np.int64)


def select(streams: Sequence[Stream], raw: Sequence[Mapping[str, np.ndarray]], *, frames: int | None = None,
           source: str = "video") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One video's model inputs from its per-store arrays (``raw[i]`` = store i's entry, or a
    backbone's outputs when captioning): ``(feats, masks)``, float32 features and bool masks of
    shape ``(T,)`` / ``(T, K)``, subsampled to at most ``frames`` frames.

    Example:
        >>> s = Stream("frame", 0, "frame", (2,))
        >>> feats, masks = select([s], [{"frame": np.ones((5, 2))}], frames=3)
        >>> feats["frame"].shape, masks["frame"].tolist()
        ((3, 2), [True, True, True])
    """
    feats: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for s in streams:
        entry = raw[s.store]
        if s.key not in entry:
            raise InputError(f"{source}: stream {s.key!r} is missing")
        value = np.asarray(entry[s.key])
        if value.shape[1:] != s.shape or len(value) == 0:
            raise InputError(f"{source}: stream {s.key!r} has shape {value.shape}, expected (T>0, "
                             f"{', '.join(map(str, s.shape))})")
        keep = frame_indices(len(value), frames)
        feats[s.name] = value[keep].astype(np.float32)
        if s.mask_key is not None:
            masks[s.name] = np.asarray(entry[s.mask_key])[keep] >= 0
        else:
            masks[s.name] = np.ones(feats[s.name].shape[:-1], bool)
    return feats, masks
