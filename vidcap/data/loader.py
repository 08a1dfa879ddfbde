"""Training batches built in the main process from its feature cache; worker processes only read what the
cache lacks, ahead of the batches that need it.

A ``DataLoader`` with workers gives each worker a cache of its own, started empty every epoch, so each
worker reads and normalises every video again each epoch, and on a machine with few cores the workers
take those cores from the model's step (figures: docs/benchmarks.md, "Figures the code's comments rely
on"). :class:`CachedLoader` keeps one cache, the main process's, and builds every batch there. At the start of
an epoch it lists the videos the epoch visits that the cache lacks, grouped by the batch that first
needs them; ``workers`` processes (at lower scheduling priority, so they run in the gaps the step
leaves) read and normalise those groups in order, and the main process puts each video into its cache
before building the batch. Once the cache holds every video (from the second epoch on, when
``cache_bytes`` is large enough for the split), an epoch starts no process at all and a batch costs the
copying of its features. A video that a too-small cache has dropped again is read in the main process
when a batch needs it. The workers end as soon as the last group is read: while forked processes live,
every page the training step writes that they still share costs the main process a copy-on-write
fault, even when the workers only serve cached features (measured: docs/benchmarks.md). Batches are the
same whatever the workers (tested); the loader draws nothing from torch's global random stream, so
resuming a run reproduces it.

Without a cache (``cache_bytes=0``) nothing can be kept: the loader is a plain ``DataLoader`` whose
workers read every item.

Example:
    >>> loader = CachedLoader(dataset, dataset.batch_sampler(64, seed=0), workers=2)   # doctest: +SKIP
    >>> for batch in loader:                                                           # doctest: +SKIP
    ...     step(batch)
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from vidcap.data.batch import Batch, collate
from vidcap.data.dataset import CaptionDataset
from vidcap.errors import VidcapError

# Scheduling priority of the reading workers relative to the main process: the step's threads wait for
# each other, so a reader that preempts one of them stalls them all.
NICE = 10

Ready = tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]


def _lower_priority(_worker: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(NICE)


def _worker_errors(batches: Iterator[Any]) -> Iterator[Any]:
    """``batches``, with a vidcap error raised in a DataLoader worker re-raised as the worker raised it.
    PyTorch re-raises it in the main process with the worker's whole traceback as its message; for the
    user that is a traceback where the message (a store, video id and problem) should be."""
    try:
        yield from batches
    except VidcapError as err:
        text, marker = str(err), f"{type(err).__module__}.{type(err).__qualname__}: "
        if not text.startswith("Caught ") or marker not in text:
            raise
        raise type(err)(text.rsplit(marker, 1)[1].strip()) from None


class _Reads(torch.utils.data.Dataset):
    """Item k: the model-ready features of the k-th group of videos (read in a worker, never cached there)."""

    def __init__(self, dataset: CaptionDataset, groups: Sequence[Sequence[str]]):
        self.dataset, self.groups = dataset, groups

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, k: int) -> list[Ready]:
        return [(vid, *self.dataset.reader.ready(vid)) for vid in self.groups[k]]


def _as_is(group: list[Ready]) -> list[Ready]:
    return group  # numpy arrays travel pickled: no shared-memory file per array in the main process


class CachedLoader:
    """Iterates batches (:class:`~vidcap.data.batch.Batch`) of ``dataset`` in ``batch_sampler``'s order;
    see the module docstring. ``pin_memory`` pins each batch (for CUDA)."""

    def __init__(self, dataset: CaptionDataset, batch_sampler: Iterable[list[int]], *, workers: int = 0,
                 pin_memory: bool = False):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be a whole number >= 0, got {workers!r}")
        self.dataset, self.batch_sampler = dataset, batch_sampler
        self.workers, self.pin_memory = workers, pin_memory
        self.last_epoch_reads = 0  # items (plain) or videos (cached) the last epoch's workers read

    def __len__(self) -> int:
        return len(self.batch_sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Batch]:
        if self.workers and not self.dataset.reader.cache_bytes:
            yield from self._plain()
            return
        batches = list(self.batch_sampler)
        groups = self._first_uses(batches) if self.workers else []
        self.last_epoch_reads = sum(len(ids) for _, ids in groups)
        reads = self._reads([ids for _, ids in groups])
        pending = 0
        reader = self.dataset.reader
        for b, indices in enumerate(batches):
            while pending < len(groups) and groups[pending][0] <= b:
                for vid, feats, masks in next(reads):
                    reader.keep(vid, feats, masks)
                pending += 1
                if pending == len(groups):  # all read: end the workers now, not with the epoch (see above)
                    next(reads, None)
            batch = collate([self.dataset[i] for i in indices])
            yield batch.pin_memory() if self.pin_memory else batch

    def _first_uses(self, batches: list[list[int]]) -> list[tuple[int, list[str]]]:
        """(batch number, videos it is the first to need) for the batches that need uncached videos."""
        reader, seen, out = self.dataset.reader, set(), []
        for b, indices in enumerate(batches):
            new = []
            for i in indices:
                vid = self.dataset.video_of(i)
                if vid not in seen and not reader.cached(vid):
                    seen.add(vid)
                    new.append(vid)
            if new:
                out.append((b, new))
        return out

    def _reads(self, groups: list[list[str]]) -> Iterator[list[Ready]]:
        if not groups:
            return iter(())
        loader = torch.utils.data.DataLoader(
            _Reads(self.dataset, groups), batch_size=None, shuffle=False, collate_fn=_as_is,
            num_workers=min(self.workers, len(groups)), worker_init_fn=_lower_priority,
            generator=torch.Generator())  # its own seed source: the global random stream stays untouched
        return _worker_errors(iter(loader))

    def _plain(self) -> Iterator[Batch]:
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=self.batch_sampler, collate_fn=collate, num_workers=self.workers,
            pin_memory=self.pin_memory, generator=torch.Generator())
        self.last_epoch_reads = 0
        for batch in _worker_errors(iter(loader)):
            self.last_epoch_reads += len(batch)
            yield batch

