"""A padded batch of dataset items (:class:`Batch`) and the function that makes one (:func:`collate`).

Example:
    >>> item = {"id": "v", "feats": {"frame": np.ones((3, 2), np.float32)}, "masks": {"frame": np.ones(3, bool)}}
    >>> batch = collate([item, {**item, "id": "w"}])
    >>> batch.feats["frame"].shape, batch.ids
    (torch.Size([2, 3, 2]), ['v', 'w'])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from vidcap.data.vocab import PAD
from vidcap.errors import UsageError


@dataclass
class Batch:
    """A padded batch: ``feats`` name → (B, T, D) / (B, T, K, D) float32; ``masks`` name → (B, T) /
    (B, T, K) bool (True = valid); ``captions`` (B, L) int64 BOS … EOS PAD … (training items only);
    ``references`` (evaluation items with annotations only); ``ids`` the video ids."""

    ids: list[str]
    feats: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    captions: torch.Tensor | None = None
    references: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def _map(self, fn) -> "Batch":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["feats"] = {k: fn(v) for k, v in self.feats.items()}
        values["masks"] = {k: fn(v) for k, v in self.masks.items()}
        if self.captions is not None:
            values["captions"] = fn(self.captions)
        return Batch(**values)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """The same batch with every tensor on ``device``."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "Batch":
        """Called by ``DataLoader(pin_memory=True)``."""
        return self._map(lambda t: t.pin_memory())


def _pad(arrays: Sequence[np.ndarray], fill: Any, dtype: torch.dtype) -> torch.Tensor:
    """Stack arrays that differ in their first dimension, padding it with ``fill``.

    Inside a DataLoader worker the batch is built directly in shared memory (as torch's own
    ``default_collate`` does), so handing it to the main process copies nothing; the filling itself
    is done through a numpy view, which is much faster than per-row tensor assignment."""
    shape = (len(arrays), max(len(a) for a in arrays), *arrays[0].shape[1:])
    if torch.utils.data.get_worker_info() is None:
        out = torch.empty(shape, dtype=dtype)
    else:
        proto = torch.empty(0, dtype=dtype)
        out = proto.new(proto._typed_storage()._new_shared(math.prod(shape), device="cpu")).view(shape)
    view = out.numpy()
    view.fill(fill)
    for i, a in enumerate(arrays):
        view[i, :len(a)] = a
    return out


def collate(items: Sequence[Mapping[str, Any]]) -> Batch:
    """Pad a list of dataset items into a :class:`Batch` (padding is zero features, False masks, PAD).

    Example:
        >>> items = [{"id": "a", "feats": {"frame": np.ones((2, 3), np.float32)},
        ...           "masks": {"frame": np.ones(2, bool)}, "caption": np.array([1, 5, 2])},
        ...          {"id": "b", "feats": {"frame": np.ones((1, 3), np.float32)},
        ...           "masks": {"frame": np.ones(1, bool)}, "caption": np.array([1, 2])}]
        >>> b = collate(items)
        >>> b.feats["frame"].shape, b.masks["frame"].tolist(), b.captions.tolist()
        (torch.Size([2, 2, 3]), [[True, True], [True, False]], [[1, 5, 2], [1, 2, 0]])
    """
    if not items:
        raise UsageError("collate: empty batch")
    names = list(items[0]["feats"])
    feats = {n: _pad([it["feats"][n] for it in items], 0.0, torch.float32) for n in names}
    masks = {n: _pad([it["masks"][n] for it in items], False, torch.bool) for n in names}
    captions = None
    if "caption" in items[0]:
        captions = _pad([np.asarray(it["caption"], np.int64) for it in items], PAD, torch.int64)
    references = [list(it["references"]) for it in items] if "references" in items[0] else None
    return Batch([it["id"] for it in items], feats, masks, captions, references)
