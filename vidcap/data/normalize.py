"""Feature standardisation with training-set statistics, plus optional temporal differences.

Backbone features are far from zero-mean/unit-variance (and with random offline weights, wildly so);
standardising each feature dimension with the mean and standard deviation of the *training* split, and
appending temporal differences (frame t minus frame t−1, which carry the motion a single frame lacks),
makes a large difference to how fast and how well the decoders learn.

* Statistics are per stream and per feature dimension, over every valid frame (frame-like streams,
  ``(T, D)``) or every valid region (object/grid streams, ``(T, K, D)``) of the videos given to
  :meth:`FeatureNormalizer.fit`. Dimensions that never vary keep a scale of 1.
* ``deltas=True`` appends differences to frame-like streams only (to those in ``delta_streams`` when it
  names some; a whitened bilinear pool hardly changes between frames, so its differences are mostly
  amplified noise): ``(T, D)`` becomes ``(T, 2D)``, the
  first frame's difference is zero. Object slots are not aligned over time (slot k holds different
  objects in different frames), so object streams get no differences.
* ``whiten=K`` (PCA whitening) then projects each stream with more than ``K`` dimensions (or only the
  ``whiten_streams`` named) onto the ``K`` principal components of its standardised training features,
  each scaled to unit variance. Large,
  redundant features (a 2,080-value bilinear pool, or 2,048-d ResNet features) become ``K`` decorrelated
  values of equal weight, so a few high-variance directions (brightness, colour) no longer hide the
  low-variance ones, and the decoder's input projection shrinks. Differences are taken after it.
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
    >>> rng = np.random.default_rng(0)
    >>> white = FeatureNormalizer.fit([({"frame": rng.normal(size=(50, 6))}, {})], whiten=3)
    >>> white.output_dims({"frame": 6})
    {'frame': 3}
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from vidcap.errors import InputError, UsageError

FORMAT = "vidcap-normalizer/2"  # /2 added the whitening projection
READABLE_FORMATS = ("vidcap-normalizer/1", FORMAT)
Sample = tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]


class _Moments:
    """Running count/mean/M2 per dimension (Chan et al.'s pairwise update: stable for large counts); with
    ``scatter``, the full co-moment matrix too (for whitening). Rows are folded in in blocks of at least
    ``BLOCK_ROWS``: the co-moment update is then one large matrix product per block instead of a
    D×D outer product per video (the same statistics, much faster: docs/benchmarks.md).
    Call :meth:`flush` before reading the statistics."""

    BLOCK_ROWS = 4096

    def __init__(self, dim: int, scatter: bool = False):
        self.n = 0
        self.mean = np.zeros(dim, np.float64)
        self.m2 = np.zeros(dim, np.float64)
        self.scatter = np.zeros((dim, dim), np.float64) if scatter else None
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def add(self, rows: np.ndarray) -> None:
        if len(rows):
            self._pending.append(np.array(rows, np.float64))  # a copy: the caller's array may be reused
            self._pending_rows += len(rows)
            if self._pending_rows >= self.BLOCK_ROWS:
                self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows = np.concatenate(self._pending)
        self._pending, self._pending_rows = [], 0
        n_b, mean_b = len(rows), rows.mean(axis=0)
        centred = rows - mean_b
        m2_b = (centred ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        if self.scatter is not None:
            self.scatter += centred.T @ centred + np.outer(delta, delta) * (self.n * n_b / n)
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.n = n


def _check_named(option: str, named: Iterable[str], streams: Iterable[str]) -> None:
    """UsageError when ``option`` names streams that are not there."""
    unknown = sorted(set(named) - set(streams))
    if unknown:
        raise UsageError(f"{option} names {', '.join(unknown)}, not among the streams: {', '.join(sorted(streams))}")


def _whitening(moments: _Moments, std: np.ndarray, k: int, name: str) -> np.ndarray:
    """(D, k) matrix taking standardised features to their top-``k`` principal components, whitened."""
    corr = moments.scatter / moments.n / np.outer(std, std)
    values, vectors = np.linalg.eigh(corr)  # ascending
    values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    # Whitening divides by sqrt(eigenvalue): a component with (numerically) no variance would be noise
    # blown up to unit scale, so it is an error, not a silent amplification.
    floor = max(values[0], 0.0) * 1e-6
    if values[-1] <= floor:
        informative = int((values > floor).sum())
        raise InputError(f"whiten={k}: stream {name!r} has only {informative} informative directions in "
                         f"its {moments.n} training frames/regions; choose whiten <= {informative}")
    return (vectors / np.sqrt(values)).astype(np.float32)


class FeatureNormalizer:
    """Per-stream standardisation (+ temporal differences); see the module docstring."""

    def __init__(self, mean: Mapping[str, Any], std: Mapping[str, Any], *, deltas: bool = False,
                 delta_streams: Sequence[str] = (), projection: Mapping[str, Any] | None = None):
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
        self.delta_streams = tuple(delta_streams)
        if self.delta_streams and not self.deltas:
            raise UsageError(f"delta_streams {list(self.delta_streams)} given but deltas is off")
        _check_named("delta_streams", self.delta_streams, self.mean)
        # Own, C-ordered copies: BLAS takes a slow path on a view of a loaded tensor or a reversed eigh output.
        self.projection = {k: np.array(v, np.float32, order="C") for k, v in (projection or {}).items()}
        for k, p in self.projection.items():
            if k not in self.mean or p.ndim != 2 or p.shape[0] != self.mean[k].shape[0] or p.shape[1] < 1:
                raise UsageError(f"normalizer stream {k!r}: projection must be (D, K) with D the stream's "
                                 f"feature size, got {p.shape}")
            if not np.isfinite(p).all():
                raise UsageError(f"normalizer stream {k!r}: projection must be finite")
        self._scale = {k: (1.0 / v).astype(np.float32) for k, v in self.std.items()}  # multiply, not divide
        self._projection = {k: torch.from_numpy(p) for k, p in self.projection.items()}

    @classmethod
    def fit(cls, samples: Iterable[Sample], *, deltas: bool = False, delta_streams: Sequence[str] = (),
            whiten: int = 0, whiten_streams: Sequence[str] = (), eps: float = 1e-6) -> "FeatureNormalizer":
        """Statistics of ``samples``: ``(feats, masks)`` pairs, one per video, as :class:`CaptionDataset`
        gives them (``feats[name]`` is ``(T, D)`` or ``(T, K, D)``; ``masks[name]``, when present, a bool
        array of ``feats[name].shape[:-1]``, True = valid). ``whiten > 0`` also fits the PCA-whitening
        projection of every stream with more than ``whiten`` dimensions, or of the ``whiten_streams``
        named (each must have more); see the module docstring.

        Example:
            >>> import numpy as np
            >>> norm = FeatureNormalizer.fit([({"frame": np.zeros((3, 4))}, {})])
            >>> norm.std["frame"].tolist()
            [1.0, 1.0, 1.0, 1.0]
        """
        if isinstance(whiten, bool) or not isinstance(whiten, (int, np.integer)) or whiten < 0:
            raise UsageError(f"whiten must be a whole number >= 0 (0 = off), got {whiten!r}")
        named = set(whiten_streams)
        if named and not whiten:
            raise UsageError(f"whiten_streams {sorted(named)} given but whiten is 0: set the number of components")
        moments: dict[str, _Moments] = {}
        for feats, masks in samples:
            for name, value in feats.items():
                value = np.asarray(value)
                rows = value.reshape(-1, value.shape[-1])
                mask = masks.get(name)
                if mask is not None:
                    rows = rows[np.asarray(mask, bool).reshape(-1)]
                if name not in moments:
                    if name in named and value.shape[-1] <= whiten:
                        raise UsageError(f"whiten={whiten}: stream {name!r} has only {value.shape[-1]} values; "
                                         f"whitening reduces a stream to fewer values than it has")
                    moments[name] = _Moments(value.shape[-1], scatter=bool(whiten) and (
                        name in named if named else value.shape[-1] > whiten))
                acc = moments[name]
                if acc.mean.shape[0] != value.shape[-1]:
                    raise InputError(f"stream {name!r}: feature size {value.shape[-1]} differs from "
                                     f"{acc.mean.shape[0]} in earlier videos")
                acc.add(rows)
        if not moments:
            raise UsageError("FeatureNormalizer.fit: no videos given")
        for acc in moments.values():
            acc.flush()
        _check_named("whiten_streams", named, moments)
        empty = [k for k, m in moments.items() if m.n == 0]
        if empty:
            raise InputError(f"FeatureNormalizer.fit: no valid frames/regions in stream(s) {', '.join(empty)}")
        mean = {k: m.mean for k, m in moments.items()}
        std = {}
        for k, m in moments.items():
            s = np.sqrt(m.m2 / m.n)
            std[k] = np.where(s > eps, s, 1.0)  # constant dimensions: centre only
        projection = {k: _whitening(m, std[k], whiten, k) for k, m in moments.items() if m.scatter is not None}
        return cls(mean, std, deltas=deltas, delta_streams=delta_streams, projection=projection)

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
            deltas = self._differenced(name, value.ndim == 2)
            projection = self.projection.get(name)
            k = d if projection is None else projection.shape[1]
            # One output array, filled in place: this runs per item in the DataLoader workers.
            result = np.empty((*value.shape[:-1], 2 * k if deltas else k), np.float32)
            z = result[..., :k]
            if projection is None:
                np.subtract(value, self.mean[name], out=z)
                np.multiply(z, self._scale[name], out=z)
            else:  # torch's matmul, not numpy's: numpy's BLAS threads would fight torch's for the cores
                z[...] = (torch.from_numpy((value - self.mean[name]) * self._scale[name])
                          @ self._projection[name]).numpy()
            mask = masks.get(name)
            if mask is not None:
                z[~np.asarray(mask, bool)] = 0.0
            if deltas:
                result[:1, k:] = 0.0
                np.subtract(z[1:], z[:-1], out=result[1:, k:])
            out[name] = result
        return out

    def output_dims(self, input_dims: Mapping[str, int | tuple[int, ...]]) -> dict[str, int | tuple[int, ...]]:
        """Input dims (``D`` or ``(K, D)``) of the transformed streams: the whitened size where a stream is
        projected, doubled for frame-like streams when differences are on."""
        out: dict[str, int | tuple[int, ...]] = {}
        for name, dims in input_dims.items():
            p = self.projection.get(name)
            if isinstance(dims, int):
                size = dims if p is None else p.shape[1]
                out[name] = 2 * size if self._differenced(name, True) else size
            else:
                out[name] = dims if p is None else (*tuple(dims)[:-1], p.shape[1])
        return out

    def _differenced(self, name: str, frame_like: bool) -> bool:
        return self.deltas and frame_like and (not self.delta_streams or name in self.delta_streams)

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors and values (safe for ``torch.load(weights_only=True)``)."""
        return {"format": FORMAT, "deltas": self.deltas, "delta_streams": list(self.delta_streams),
                **{part: {k: torch.from_numpy(v.copy()) for k, v in getattr(self, part).items()}
                   for part in ("mean", "std", "projection")}}

    @classmethod
    def from_state_dict(cls, state: Any) -> "FeatureNormalizer":
        """Inverse of :meth:`state_dict`; InputError for anything else."""
        if not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise InputError(f"normalizer state: expected format {FORMAT!r}, found {found!r}")
        try:
            parts = {"mean": state["mean"], "std": state["std"], "projection": state.get("projection", {})}
            arrays = {part: {k: torch.as_tensor(v).numpy() for k, v in values.items()}
                      for part, values in parts.items()}
            return cls(arrays["mean"], arrays["std"], deltas=bool(state["deltas"]),
                       delta_streams=[str(n) for n in state.get("delta_streams", [])], projection=arrays["projection"])
        except (KeyError, AttributeError, TypeError, UsageError) as err:
            raise InputError(f"normalizer state: damaged ({err})") from None

    def __repr__(self) -> str:
        white = {k: p.shape[1] for k, p in self.projection.items()}
        return f"FeatureNormalizer(streams={sorted(self.mean)}, deltas={self.deltas}, whitened={white})"
