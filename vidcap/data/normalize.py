"""Feature standardisation with training-set statistics, plus optional temporal differences.

Backbone features are far from zero-mean/unit-variance (and with random offline weights, wildly so);
standardising each feature dimension with the mean and standard deviation of the *training* split, and
appending temporal differences (frame t minus frame t−1, which carry the motion a single frame lacks),
makes a large difference to how fast and how well the decoders learn.

* Statistics are per stream and per feature dimension, over every valid frame (frame-like streams,
  ``(T, D)``) or every valid region (object/grid streams, ``(T, K, D)``) of the videos given to
  :meth:`FeatureNormalizer.fit`. Dimensions that never vary keep a scale of 1.
* ``deltas=True`` appends differences to frame-like streams only: ``(T, D)`` becomes ``(T, 2D)``, the
  first frame's difference is zero. Object slots are not aligned over time (slot k holds different
  objects in different frames), so object streams get no differences.
* Invalid positions (masked-out regions) come out as zeros.

The state is plain tensors/lists (:meth:`state_dict`), stored in checkpoints so that captioning new
videos applies exactly the training transform.

Example:
    >>> import numpy as np
    >>> feats = {"frame": np.array([[1.0, 5.0], [3.0, 5.0]], np.float32)}
    >>> norm = FeatureNormalizer.fit([(feats, {})], deltas=True)
    >>> norm(feats, {})["frame"].tolist()
    [[-1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 2.0, 0.0]]
    >>> norm.output_dims({"frame": 2})
    {'frame': 4}
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import torch

from vidcap.errors import InputError, UsageError

FORMAT = "vidcap-normalizer/1"
Sample = tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]


class _Moments:
    """Running count/mean/M2 per dimension (Chan et al.'s pairwise update: stable for large counts)."""

    def __init__(self, dim: int):
        self.n = 0
        self.mean = np.zeros(dim, np.float64)
        self.m2 = np.zeros(dim, np.float64)

    def add(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        rows = rows.astype(np.float64, copy=False)
        n_b, mean_b = len(rows), rows.mean(axis=0)
        m2_b = ((rows - mean_b) ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.n = n


class FeatureNormalizer:
    """Per-stream standardisation (+ temporal differences); see the module docstring."""

    def __init__(self, mean: Mapping[str, Any], std: Mapping[str, Any], *, deltas: bool = False):
        if set(mean) != set(std):
            raise UsageError(f"normalizer: mean and std cover different streams ({sorted(mean)} vs {sorted(std)})")
        self.mean = {k: np.asarray(v, np.float32) for k, v in mean.items()}
        self.std = {k: np.asarray(v, np.float32) for k, v in std.items()}
        for k in self.mean:
            if self.mean[k].ndim != 1 or self.mean[k].shape != self.std[k].shape:
                raise UsageError(f"normalizer stream {k!r}: mean and std must be vectors of one length")
            if not (np.isfinite(self.std[k]).all() and (self.std[k] > 0).all()):
                raise UsageError(f"normalizer stream {k!r}: std must be finite and positive")
        self.deltas = bool(deltas)
        self._scale = {k: (1.0 / v).astype(np.float32) for k, v in self.std.items()}  # multiply, not divide

    @classmethod
    def fit(cls, samples: Iterable[Sample], *, deltas: bool = False, eps: float = 1e-6) -> "FeatureNormalizer":
        """Statistics of ``samples``: ``(feats, masks)`` pairs, one per video, as :class:`CaptionDataset`
        gives them (``feats[name]`` is ``(T, D)`` or ``(T, K, D)``; ``masks[name]``, when present, a bool
        array of ``feats[name].shape[:-1]``, True = valid).

        Example:
            >>> import numpy as np
            >>> norm = FeatureNormalizer.fit([({"frame": np.zeros((3, 4))}, {})])
            >>> norm.std["frame"].tolist()
            [1.0, 1.0, 1.0, 1.0]
        """
        moments: dict[str, _Moments] = {}
        for feats, masks in samples:
            for name, value in feats.items():
                value = np.asarray(value)
                rows = value.reshape(-1, value.shape[-1])
                mask = masks.get(name)
                if mask is not None:
                    rows = rows[np.asarray(mask, bool).reshape(-1)]
                acc = moments.setdefault(name, _Moments(value.shape[-1]))
                if acc.mean.shape[0] != value.shape[-1]:
                    raise InputError(f"stream {name!r}: feature size {value.shape[-1]} differs from "
                                     f"{acc.mean.shape[0]} in earlier videos")
                acc.add(rows)
        if not moments:
            raise UsageError("FeatureNormalizer.fit: no videos given")
        empty = [k for k, m in moments.items() if m.n == 0]
        if empty:
            raise InputError(f"FeatureNormalizer.fit: no valid frames/regions in stream(s) {', '.join(empty)}")
        mean = {k: m.mean for k, m in moments.items()}
        std = {}
        for k, m in moments.items():
            s = np.sqrt(m.m2 / m.n)
            std[k] = np.where(s > eps, s, 1.0)  # constant dimensions: centre only
        return cls(mean, std, deltas=deltas)

    def __call__(self, feats: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Standardised float32 copies of one video's streams (differences appended when enabled).

        Streams the normalizer was not fit on are an error: silently passing raw features would
        train or caption on a different scale.
        """
        unknown = [k for k in feats if k not in self.mean]
        if unknown:
            raise UsageError(f"normalizer has no statistics for stream(s) {', '.join(unknown)} "
                             f"(fit on {', '.join(sorted(self.mean))})")
        out = {}
        for name, value in feats.items():
            value = np.asarray(value, np.float32)
            d = value.shape[-1]
            if d != self.mean[name].shape[0]:
                raise InputError(f"stream {name!r}: feature size {d}, the normalizer "
                                 f"expects {self.mean[name].shape[0]}")
            deltas = self.deltas and value.ndim == 2
            # One output array, filled in place: this runs per item in the DataLoader workers.
            result = np.empty((*value.shape[:-1], 2 * d if deltas else d), np.float32)
            z = result[..., :d]
            np.subtract(value, self.mean[name], out=z)
            np.multiply(z, self._scale[name], out=z)
            mask = masks.get(name)
            if mask is not None:
                z[~np.asarray(mask, bool)] = 0.0
            if deltas:
                result[:1, d:] = 0.0
                np.subtract(z[1:], z[:-1], out=result[1:, d:])
            out[name] = result
        return out

    def output_dims(self, input_dims: Mapping[str, int | tuple[int, ...]]) -> dict[str, int | tuple[int, ...]]:
        """Input dims (``D`` or ``(K, D)``) of the transformed streams: ``2D`` for frame-like streams when
        differences are on."""
        return {k: (2 * d if self.deltas and isinstance(d, int) else d) for k, d in input_dims.items()}

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors and values (safe for ``torch.load(weights_only=True)``)."""
        return {"format": FORMAT, "deltas": self.deltas,
                "mean": {k: torch.from_numpy(v.copy()) for k, v in self.mean.items()},
                "std": {k: torch.from_numpy(v.copy()) for k, v in self.std.items()}}

    @classmethod
    def from_state_dict(cls, state: Any) -> "FeatureNormalizer":
        """Inverse of :meth:`state_dict`; InputError for anything else."""
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise InputError(f"normalizer state: expected format {FORMAT!r}, found {found!r}")
        try:
            arrays = {part: {k: torch.as_tensor(v).numpy() for k, v in state[part].items()}
                      for part in ("mean", "std")}
            return cls(arrays["mean"], arrays["std"], deltas=bool(state["deltas"]))
        except (KeyError, AttributeError, TypeError, UsageError) as err:
            raise InputError(f"normalizer state: damaged ({err})") from None

    def __repr__(self) -> str:
        return f"FeatureNormalizer(streams={sorted(self.mean)}, deltas={self.deltas})"
