"""Training and evaluation datasets over feature stores, batching with padding, length bucketing.

* :class:`CaptionDataset` — one item per (video, reference caption) pair of a split. Which pairs an
  epoch visits is the batch sampler's choice (:class:`BucketBatchSampler`): ``references="all"``
  visits every pair (an MSR-VTT training epoch is 130,260 items), ``references="sample"`` one randomly
  drawn reference per video (6,513 items, a new draw every epoch). Keeping the choice in the sampler,
  not the dataset, means DataLoader workers (persistent or not) never need to know the epoch.
* :class:`EvalDataset` — one item per video, with its references (for scoring) instead of a caption.
* :func:`vidcap.data.batch.collate` pads items into a :class:`~vidcap.data.batch.Batch`.

Features are read one video per item from the stores (``FeatureStore`` objects are created lazily in
each process and hold no open files), so no worker ever holds a copy of a store. With ``cache_bytes``,
each process keeps the most recently used videos' model-ready (selected, normalised) features in memory
up to that many bytes: with every reference an item, a training epoch reads each video once per
reference (5 to 20 times), and reading and normalising cost more than the model's step on small models.
Cached arrays are read-only, so nothing downstream can alter what the next item gets. Captions are
tokenized and encoded once, into one flat int32 array, which is cheap to send to workers.

Example:
    >>> ann = Annotations.load("train_val_videodatainfo.json")                         # doctest: +SKIP
    >>> vocab = build_vocabulary(ann, split="train", min_count=2)                      # doctest: +SKIP
    >>> ds = CaptionDataset("feats/resnet152", ann, vocab, split="train")              # doctest: +SKIP
    >>> ds.normalizer = FeatureNormalizer.fit(ds.features(), deltas=True)             # doctest: +SKIP
    >>> sampler = ds.batch_sampler(64, references="sample", seed=0)                     # doctest: +SKIP
    >>> loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=2)  # doctest: +SKIP
    >>> batch = next(iter(loader)); batch.captions.shape, ds.input_dims               # doctest: +SKIP
    (torch.Size([64, 14]), {'frame': 4096})
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from vidcap.data.annotations import Annotations
from vidcap.data.normalize import FeatureNormalizer
from vidcap.data.streams import Stream, resolve_streams, select
from vidcap.data.tokenize import tokenize
from vidcap.data.vocab import MAX_LEN, Vocabulary
from vidcap.errors import InputError, UsageError, listing
from vidcap.features.store import FeatureStore

PathLike = str | os.PathLike[str]

# data.references / batch_sampler(references=...): all = every (video, reference) pair per epoch,
# sample = one random reference per video per epoch.
REFERENCE_MODES = ("all", "sample")


def build_vocabulary(annotations: Annotations, *, split: str = "train", min_count: int = 1,
                     max_size: int | None = None) -> Vocabulary:
    """The vocabulary of a split's reference captions (tokenized as for evaluation).

    Example:
        >>> from vidcap.data.annotations import VideoRecord
        >>> ann = Annotations({"v": VideoRecord("v", "train")}, {"v": ["A dog.", "a cat"]})
        >>> build_vocabulary(ann, min_count=2).words[4:]
        ['a']
    """
    refs = annotations.references(annotations.ids(split))
    return Vocabulary.build((tokenize(c) for caps in refs.values() for c in caps),
                            min_count=min_count, max_size=max_size)


class _Features:
    """Reads one video's selected streams from one or more stores (stores opened lazily per process),
    normalised when a normaliser is set; keeps up to ``cache_bytes`` of them (least recently used out)."""

    def __init__(self, features: PathLike | Sequence[PathLike], streams: Sequence[str],
                 frames: int | None, cache_bytes: int = 0):
        paths = [features] if isinstance(features, (str, os.PathLike)) else list(features)
        if not paths:
            raise UsageError("features: give at least one feature store folder")
        if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
            raise UsageError(f"frames={frames!r}: must be a positive integer or null")
        self.paths = [os.fspath(p) for p in paths]
        self.frames = frames
        self._stores: list[FeatureStore] | None = None
        self.streams: list[Stream] = resolve_streams([s.meta for s in self.stores], streams)
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes < 0:
            raise UsageError(f"cache size {cache_bytes!r}: must be a whole number of bytes >= 0 (0 = off)")
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]] = OrderedDict()
        self._cached = 0
        self._normalizer: FeatureNormalizer | None = None

    @property
    def normalizer(self) -> FeatureNormalizer | None:
        return self._normalizer

    @normalizer.setter
    def normalizer(self, value: FeatureNormalizer | None) -> None:
        self._normalizer = value
        self._cache.clear()  # what is cached was normalised by the previous one
        self._cached = 0

    @property
    def stores(self) -> list[FeatureStore]:
        if self._stores is None:
            self._stores = [FeatureStore(p) for p in self.paths]
        return self._stores

    @property
    def opened(self) -> bool:
        """Whether this process has opened the stores; a copy pickled for a worker has not (it opens its own)."""
        return self._stores is not None

    @property
    def cached_bytes(self) -> int:
        """Bytes of features the cache holds now (at most ``cache_bytes``; a pickled copy starts at 0)."""
        return self._cached

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_stores": None, "_cache": OrderedDict(), "_cached": 0}  # each worker its own

    def check_ids(self, ids: Sequence[str], *, allow_missing: bool) -> list[str]:
        """``ids`` present in every store used; InputError listing the absent ones unless allowed."""
        used = sorted({s.store for s in self.streams})
        present = [set(self.stores[i].ids()) for i in used]
        missing = [v for v in ids if not all(v in p for p in present)]
        if missing and not allow_missing:
            where = ", ".join(self.paths[i] for i in used)
            raise InputError(f"{where}: no features for {listing(missing)} (extract them, or allow_missing to skip them)")
        absent = set(missing)
        return [v for v in ids if v not in absent]

    def raw(self, video_id: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        entries: list[Mapping[str, np.ndarray]] = [{} for _ in self.paths]
        for i in sorted({s.store for s in self.streams}):
            try:
                entries[i] = self.stores[i][video_id]
            except KeyError:
                raise InputError(f"{self.paths[i]}: no features for video {video_id!r}") from None
        return select(self.streams, entries, frames=self.frames, source=f"video {video_id!r}")

    def load(self, video_id: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        hit = self._cache.get(video_id)
        if hit is not None:
            self._cache.move_to_end(video_id)
            return dict(hit[0]), dict(hit[1])  # new dicts: a caller replacing a stream changes nothing cached
        return self.keep(video_id, *self.ready(video_id))

    def ready(self, video_id: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The video's model-ready (selected, normalised) features, read now and not cached."""
        feats, masks = self.raw(video_id)
        if self.normalizer is not None:
            feats = self.normalizer(feats, masks)
        return feats, masks

    def cached(self, video_id: str) -> bool:
        return video_id in self._cache

    def keep(self, video_id: str, feats: dict[str, np.ndarray], masks: dict[str, np.ndarray]
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Cache ``ready``'s output for ``video_id`` (when the cache is on and it fits); returns it."""
        if self.cache_bytes:
            arrays = [*feats.values(), *masks.values()]
            size = sum(a.nbytes for a in arrays)
            if size <= self.cache_bytes:
                for a in arrays:
                    a.setflags(write=False)
                self._cache[video_id] = (feats, masks, size)
                self._cached += size
                while self._cached > self.cache_bytes:
                    self._cached -= self._cache.popitem(last=False)[1][2]
                return dict(feats), dict(masks)
        return feats, masks

    @property
    def input_dims(self) -> dict[str, int | tuple[int, ...]]:
        dims = {s.name: s.input_dim for s in self.streams}
        return self.normalizer.output_dims(dims) if self.normalizer is not None else dims


class _FeatureDataset(torch.utils.data.Dataset):
    """Shared by both datasets: the stream selection, normalizer and ``input_dims``."""

    _feats: _Features
    video_ids: list[str]

    @property
    def normalizer(self) -> FeatureNormalizer | None:
        return self._feats.normalizer

    @normalizer.setter
    def normalizer(self, value: FeatureNormalizer | None) -> None:
        self._feats.normalizer = value

    @property
    def reader(self) -> _Features:
        """This process's feature reader and cache (:class:`vidcap.data.loader.CachedLoader` fills it)."""
        return self._feats

    @property
    def input_dims(self) -> dict[str, int | tuple[int, ...]]:
        """Stream name → ``D`` or ``(K, D)`` as the model sees them (after normalizer differences)."""
        return self._feats.input_dims

    @property
    def streams(self) -> list[Stream]:
        return list(self._feats.streams)

    @property
    def store_metas(self) -> list[dict[str, Any]]:
        """Each store's ``meta.json`` (its feature spec and stream dims), in ``features`` order: what a
        checkpoint keeps so that captioning rebuilds the same inputs (see vidcap.inference.captioner)."""
        return [dict(s.meta) for s in self._feats.stores]

    def features(self) -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
        """Raw (un-normalized) ``(feats, masks)`` of each video once, for :meth:`FeatureNormalizer.fit`."""
        for vid in self.video_ids:
            yield self._feats.raw(vid)


class CaptionDataset(_FeatureDataset):
    """(video, reference) pairs of a split; see the module docstring.

    Args:
        features: a feature store folder, or several (stream names then get backbone prefixes).
        annotations: loaded :class:`Annotations`.
        vocab: encodes the references (cut to ``max_len`` words).
        split: which videos (``train``, ``validate``, ``test``), or ``ids`` to list them.
        streams: model input streams (see :mod:`vidcap.data.streams`).
        frames: use at most this many stored frames per video (uniformly spread), None = all.
        allow_missing: skip videos without features instead of raising InputError.
        cache_bytes: keep up to this many bytes of model-ready features in memory, per process (0 = off).

    Items are dicts: ``id``, ``feats``, ``masks`` (see :func:`vidcap.data.streams.select`),
    ``caption`` (int64 ids, BOS … EOS).
    """

    def __init__(self, features: PathLike | Sequence[PathLike], annotations: Annotations, vocab: Vocabulary, *,
                 split: str | None = "train", ids: Sequence[str] | None = None, streams: Sequence[str] = ("frame",),
                 frames: int | None = None, max_len: int = MAX_LEN, normalizer: FeatureNormalizer | None = None,
                 allow_missing: bool = False, cache_bytes: int = 0):
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise UsageError(f"max_len={max_len!r}: must be a positive integer")
        self._feats = _Features(features, streams, frames, cache_bytes)
        self._feats.normalizer = normalizer
        wanted = list(ids) if ids is not None else annotations.ids(split)
        if not wanted:
            raise UsageError(f"no videos in split {split!r} of {annotations!r}")
        self.video_ids = self._feats.check_ids(wanted, allow_missing=allow_missing)
        if not self.video_ids:
            raise InputError(f"none of the {len(wanted)} videos has features in {', '.join(self._feats.paths)}")
        self.references: dict[str, list[str]] = annotations.references(self.video_ids)
        self.vocab, self.max_len = vocab, max_len
        encoded = [np.asarray(vocab.encode(tokenize(c), max_len=max_len), np.int32)
                   for vid in self.video_ids for c in self.references[vid]]
        self._tokens = np.concatenate(encoded)
        self.lengths = np.array([len(e) for e in encoded], np.int64)  # with BOS and EOS
        self._offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        # Item i is reference self._ref[i] of video self.groups[i].
        counts = [len(self.references[v]) for v in self.video_ids]
        self.groups = np.repeat(np.arange(len(self.video_ids)), counts)
        self._ref = np.concatenate([np.arange(n) for n in counts])

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        vid = self.video_ids[self.groups[index]]
        feats, masks = self._feats.load(vid)
        caption = self._tokens[self._offsets[index]:self._offsets[index + 1]].astype(np.int64)
        return {"id": vid, "feats": feats, "masks": masks, "caption": caption}

    def video_of(self, index: int) -> str:
        """The video id of item ``index``."""
        return self.video_ids[self.groups[index]]

    def caption_text(self, index: int) -> str:
        """The reference text behind item ``index``."""
        return self.references[self.video_ids[self.groups[index]]][self._ref[index]]

    def batch_sampler(self, batch_size: int, *, references: str = "all", shuffle: bool = True, seed: int = 0,
                      drop_last: bool = False, num_replicas: int = 1, rank: int = 0) -> BucketBatchSampler:
        """A length-bucketing sampler over this dataset: every pair (``references="all"``) or one
        random reference per video per epoch (``"sample"``)."""
        if references not in REFERENCE_MODES:
            raise UsageError(f"references={references!r}: choose one of {', '.join(REFERENCE_MODES)}")
        return BucketBatchSampler(self.lengths, batch_size, groups=self.groups if references == "sample" else None,
                                  shuffle=shuffle, seed=seed, drop_last=drop_last,
                                  num_replicas=num_replicas, rank=rank)


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of items of similar length, shuffled, seeded and deterministic.

    Each epoch (``set_epoch``): pick the items (all, or with ``groups`` one random item per group),
    shuffle them, cut them into chunks of ``bucket`` batches, sort each chunk by length and cut it into
    batches, then shuffle the batch order. Sorting only within chunks keeps batches random while
    padding stays small. The same ``seed`` and epoch always give the same batches.

    ``batch_size`` is global: with ``num_replicas > 1`` (distributed training) every global batch is
    split between the ranks, rank ``r`` taking positions ``r, r + n, …`` (a batch smaller than the
    number of ranks is filled up by repeating its items), so all ranks run the same number of steps.

    Example:
        >>> s = BucketBatchSampler([5, 3, 9, 4], 2, shuffle=False)
        >>> list(s)
        [[1, 3], [0, 2]]
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, groups: Sequence[int] | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False, bucket: int = 50,
                 num_replicas: int = 1, rank: int = 0):
        self.lengths = np.asarray(lengths, np.int64)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"batch_size={batch_size!r}: must be a positive integer")
        if not 0 <= rank < num_replicas:
            raise UsageError(f"rank {rank} is not in 0..{num_replicas - 1}")
        if batch_size < num_replicas:
            raise UsageError(f"batch_size={batch_size} (global) is smaller than the {num_replicas} processes")
        if groups is not None and len(groups) != len(self.lengths):
            raise UsageError(f"groups has {len(groups)} entries for {len(self.lengths)} items")
        if not len(self.lengths):
            raise UsageError("BucketBatchSampler: no items")
        self.groups = None if groups is None else np.asarray(groups, np.int64)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.bucket, self.num_replicas, self.rank = max(1, int(bucket)), num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches ``__iter__`` yields (call before every epoch)."""
        self.epoch = int(epoch)

    def _items(self, rng: np.random.Generator) -> np.ndarray:
        if self.groups is None:
            return np.arange(len(self.lengths))
        order = rng.permutation(len(self.groups))
        _, first = np.unique(self.groups[order], return_index=True)  # a random member of each group
        return np.sort(order[first])

    def _count(self) -> int:
        return len(self.lengths) if self.groups is None else len(np.unique(self.groups))

    def __len__(self) -> int:
        n = self._count()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        items = self._items(rng)
        if self.shuffle:
            items = items[rng.permutation(len(items))]
        chunk = self.batch_size * self.bucket
        batches = []
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i:i + self.batch_size] for i in range(0, len(part), self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        for batch in batches:
            if self.num_replicas > 1:
                if len(batch) < self.num_replicas:
                    batch = np.resize(batch, self.num_replicas)
                batch = batch[self.rank::self.num_replicas]
            yield batch.tolist()


class EvalDataset(_FeatureDataset):
    """Each video once, with its reference captions when ``annotations`` are given.

    Example:
        >>> ds = EvalDataset("feats/", ann, split="test")          # doctest: +SKIP
        >>> ds[0]["id"], len(ds[0]["references"])                    # doctest: +SKIP
        ('video7010', 20)
    """

    def __init__(self, features: PathLike | Sequence[PathLike], annotations: Annotations | None = None, *,
                 split: str | None = "test", ids: Sequence[str] | None = None, streams: Sequence[str] = ("frame",),
                 frames: int | None = None, normalizer: FeatureNormalizer | None = None,
                 allow_missing: bool = False, cache_bytes: int = 0):
        self._feats = _Features(features, streams, frames, cache_bytes)
        self._feats.normalizer = normalizer
        if ids is None:
            if annotations is None:
                raise UsageError("EvalDataset needs annotations or ids")
            ids = annotations.ids(split)
        self.video_ids = self._feats.check_ids(list(ids), allow_missing=allow_missing)
        self.references: dict[str, list[str]] | None = (
            annotations.references(self.video_ids) if annotations is not None else None)

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        vid = self.video_ids[index]
        feats, masks = self._feats.load(vid)
        item: dict[str, Any] = {"id": vid, "feats": feats, "masks": masks}
        if self.references is not None:
            item["references"] = self.references[vid]
        return item
