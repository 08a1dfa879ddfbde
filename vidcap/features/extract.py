"""Batched, resumable, shardable feature extraction: videos → a FeatureStore folder.

Decoding runs in DataLoader worker processes (one OpenCV/torch thread each), which read only the sampled
frames and shrink them to the backbone's input size before anything is sent to the main process. The
main process packs frames of several videos into fixed-size batches, runs the backbone (inference mode;
on CUDA autocast and channels-last), splits the outputs per video and writes each video's entry as soon
as it is complete. Finished videos are skipped on a re-run; a kill loses at most the videos in flight.

Every forward pass sees exactly ``batch_size`` frames (the last one is padded): CPU kernels may round
differently for other batch shapes, and a resumed or sharded run must produce the same bits as one
uninterrupted run.

Example:
    >>> from vidcap.video import Sampling
    >>> srcs = collect_sources(video_dir="clips/")                                   # doctest: +SKIP
    >>> report = extract(srcs, "feats/", backbone="resnet18", weights="none",
    ...                  sampling=Sampling(frames=28))                               # doctest: +SKIP
    >>> report.failures, FeatureStore("feats/")["clip1"]["frame"].shape              # doctest: +SKIP
    ([], (28, 512))
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from vidcap.errors import InputError, UsageError, VidcapError
from vidcap.features.backbone import Backbone, Transform, get_backbone
from vidcap.features.sources import Source, collect_sources, parse_shard, select_shard
from vidcap.features.store import FeatureStore, StoreWriter, failures_name, to_stored
from vidcap.progress import bar as progress_bar
from vidcap.progress import problems_block
from vidcap.video import Clip, Sampling, VideoError, read_clip
from vidcap.video.clip_windows import ClipWindows

__all__ = ["ExtractReport", "collect_sources", "decode", "extract", "model_input", "parse_shard", "video_entry"]

log = logging.getLogger(__name__)

# Frames wider or taller than this are shrunk while decoding, so an 8K video costs bounded memory;
# the backbone's own resize follows (below this size frames reach the transform untouched).
MAX_DECODE_SIDE = 2048
# Frames per forward pass when not given. On CPUs small batches stay in cache (measured: docs/benchmarks.md,
# "Figures the code's comments rely on"); GPUs want large ones.
DEFAULT_BATCH_SIZE = {"cpu": 16, "cuda": 64}
# Scheduling priority of the decoding workers relative to the main process (see _init_worker).
NICE = 10


@dataclass
class ExtractReport:
    """What one ``extract`` call did; ``failures`` are ``{"video_id", "path", "reason"}`` records."""

    out: Path
    total: int
    extracted: int = 0
    skipped: int = 0
    frames: int = 0
    seconds: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    redone: list[str] = field(default_factory=list)  # ids whose damaged entries were extracted again

    def summary(self) -> str:
        """One line for the terminal, e.g. ``extracted 9 videos (252 frames) in 4.1 s …``."""
        part = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        text = (f"{self.out}{part}: extracted {self.extracted} of {self.total} videos ({self.frames} frames, "
                f"{rate:.1f} frames/s), {self.skipped} already done, {len(self.failures)} failed")
        if self.redone:
            text += f"; {len(self.redone)} damaged entries extracted again"
        if self.failures:
            text += f" (reasons in {self.out / failures_name(self.shard)})"
        return text

    def problems(self, verbose: bool | None = None) -> str | None:
        """The failed videos as one block (count, the first few with their reasons; all with ``verbose``,
        default: ``vidcap --verbose``), or None when none failed."""
        return problems_block(f"of {self.total} videos failed", [(f["video_id"], f["reason"]) for f in self.failures],
                              verbose=verbose, where=str(self.out / failures_name(self.shard)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot record {value!r} in the store")


def decode(path: str | os.PathLike[str], sampling: Sampling, windows: ClipWindows | None = None) -> Clip:
    """The sampled frames of one video, decoded as extraction decodes them (large frames shrunk to
    ``MAX_DECODE_SIDE``), with the frame windows around them for a clip backbone (``backbone.windows``);
    VideoError when nothing can be decoded.

    Example:
        >>> decode("clip.mp4", Sampling(frames=8)).frames.shape      # doctest: +SKIP
        (8, 360, 640, 3)
    """
    clip = read_clip(path, sampling, max_side=MAX_DECODE_SIDE, windows=windows)
    if len(clip.frames) == 0:
        raise VideoError(str(path), "no frames could be decoded")
    return clip


def video_entry(backbone: Backbone, clip: Clip, batch_size: int | None = None) -> dict[str, np.ndarray]:
    """One video's streams exactly as ``extract`` stores them: the backbone's transform, forward passes
    of ``batch_size`` frames (the last padded), ``finalize``, then the stored dtypes. Captioning a raw
    file goes through here, so its captions equal those computed from a store.

    Example:
        >>> bb = get_backbone("resnet18", weights="none", input_size=64)                  # doctest: +SKIP
        >>> video_entry(bb, decode("clip.mp4", Sampling(frames=8)))["frame"].dtype        # doctest: +SKIP
        dtype('float16')
    """
    if (backbone.windows is None) != (clip.windows is None):
        raise UsageError(f"{clip.info.path}: backbone {backbone.name} reads "
                         f"{'single frames' if backbone.windows is None else 'frame windows'}; decode the video "
                         "with decode(path, sampling, backbone.windows)")
    batcher = _Batcher(backbone, batch_size or default_batch_size(backbone))
    jobs = batcher.add({"frames": torch.from_numpy(model_input(backbone.transform, clip))}) + batcher.flush()
    streams = _finalized(backbone, jobs[0], clip.frames.shape[1:3])
    return to_stored(streams, backbone.stored_dtypes, f"{clip.info.path}: {backbone.name} features")


def model_input(transform: Transform, clip: Clip) -> np.ndarray:
    """The backbone's uint8 input for one clip: its transformed frames (N, 3, S, S) or, for a clip read
    with windows, its windows (N, L, 3, S, S). Each distinct frame is transformed once; overlapping
    windows share it.

    Example:
        >>> bb = get_backbone("r3d_18", weights="none", input_size=32, clip_len=4)            # doctest: +SKIP
        >>> model_input(bb.transform, decode("clip.mp4", Sampling(frames=8), bb.windows)).shape  # doctest: +SKIP
        (8, 4, 3, 32, 32)
    """
    if clip.windows is None:
        return transform(clip.frames)
    return transform(clip.window_frames)[clip.windows]


def default_batch_size(backbone: Backbone) -> int:
    """Frames (windows, for a clip backbone) per forward pass when not given, by device type."""
    sizes = backbone.batch_sizes or DEFAULT_BATCH_SIZE
    return sizes.get(backbone.device.type, sizes["cpu"])


def _finalized(backbone: Backbone, job: "_Job", frame_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """A finished job's outputs joined and finalised for the frame size (``to_stored`` then casts them, once:
    in the store's writer, or in :func:`video_entry`)."""
    streams = {k: np.concatenate([p[k] for p in job.parts]) for k in job.parts[0]}
    return backbone.finalize(streams, tuple(int(x) for x in frame_size))


class _Clips(torch.utils.data.Dataset):
    """Decodes one source per item (in a worker): sampled frames, already transformed, or a failure."""

    def __init__(self, sources: Sequence[Source], sampling: Sampling, transform: Transform,
                 windows: ClipWindows | None = None):
        self.sources, self.sampling, self.transform, self.windows = list(sources), sampling, transform, windows

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> dict[str, Any]:
        src = self.sources[i]
        item: dict[str, Any] = {"video_id": src.video_id, "path": str(src.path)}
        try:
            clip = decode(src.path, self.sampling, self.windows)
            info = dataclasses.asdict(clip.info)
            if clip.window_indices is not None:  # where each window really lies (ends shifted, repeats)
                info["window_indices"] = clip.window_indices.tolist()
            return {**item, "frames": torch.from_numpy(model_input(self.transform, clip)),
                    "size": clip.frames.shape[1:3], "indices": clip.indices, "timestamps": clip.timestamps,
                    "info": {**info, "path": str(src.path)}}
        except VidcapError as err:
            return {**item, "error": getattr(err, "reason", None) or str(err)}
        except Exception as err:  # a decoder bug or an odd file must not stop the other videos
            log.debug("unexpected error decoding %s", src.path, exc_info=True)
            return {**item, "error": f"unexpected {type(err).__name__} while decoding: {err}"}


def _as_is(item: dict[str, Any]) -> dict[str, Any]:
    """DataLoader "collate" that keeps numpy arrays and scalars as they are."""
    return item


def _init_worker(_: int) -> None:
    # One thread per decoding process: the cores belong to the backbone in the main process.
    # (OpenCV's 0 means "run serially"; under fork the setting is inherited from _run already.)
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    # Lower priority than the backbone: its threads meet at a barrier after every layer, so a decoder
    # that preempts one of them stalls them all. Niced decoders run in the gaps (batch assembly,
    # writing, waiting) and whenever inference leaves a core idle, which is most of the cost decoding has.
    with contextlib.suppress(OSError):
        os.nice(NICE)


@dataclass
class _Job:
    """A decoded video waiting for its frames to go through the backbone."""

    item: dict[str, Any]
    count: int
    parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    filled: int = 0


class _Batcher:
    """Packs frames of consecutive videos into ``batch_size`` forward passes, hands back whole videos."""

    def __init__(self, backbone: Backbone, batch_size: int):
        self.backbone, self.batch_size = backbone, batch_size
        self.queue: deque[tuple[_Job, torch.Tensor]] = deque()
        self.queued = 0

    def add(self, item: dict[str, Any]) -> list[_Job]:
        """Queue a decoded item (its ``frames`` already transformed); returns the videos now complete."""
        job = _Job(item, len(item["frames"]))
        self.queue.append((job, item.pop("frames")))
        self.queued += job.count
        done = []
        while self.queued >= self.batch_size:
            done += self._forward()
        return done

    def flush(self) -> list[_Job]:
        return self._forward() if self.queued else []

    def _forward(self) -> list[_Job]:
        take, pieces, need = [], [], self.batch_size
        while need and self.queue:
            job, frames = self.queue.popleft()
            if len(frames) > need:  # split a long video across batches
                self.queue.appendleft((job, frames[need:]))
                frames = frames[:need]
            take.append((job, len(frames)))
            pieces.append(frames)
            need -= len(frames)
        self.queued -= self.batch_size - need
        if need:  # pad the last batch to the fixed shape (see the module docstring)
            pieces.append(pieces[0].new_zeros((need, *pieces[0].shape[1:])))
        outputs = {k: v.numpy() for k, v in self.backbone.run(torch.cat(pieces)).items()}
        done, start = [], 0
        for job, n in take:
            job.parts.append({k: v[start:start + n] for k, v in outputs.items()})
            job.filled += n
            start += n
            if job.filled == job.count:
                done.append(job)
        return done


def extract(sources: Sequence[Source | str | os.PathLike[str]], out: str | os.PathLike[str], *,
            backbone: str, weights: str | None = None, sampling: Sampling | None = None,
            batch_size: int | None = None, workers: int = 2, device: str | None = None,
            shard: tuple[int, int] | None = None, progress: bool | None = None, options: dict[str, Any] | None = None,
            verify: bool = False) -> ExtractReport:
    """Extract features of ``sources`` (``Source``s or video paths) into the store folder ``out``.

    Resumes: videos already in ``out`` are skipped, unless their entry is damaged (checked cheaply, or
    by reading every byte with ``verify``): those are extracted again. ``shard=(i, n)`` takes every n-th source from i
    (sorted by id); shards may share ``out``. ``options`` go to ``get_backbone`` (e.g. ``{"grid": 2}``).
    Raises UsageError/InputError before any work for a bad request; per-video problems end up in
    ``report.failures`` and ``out/failures.json`` (``failures-<i>-of-<n>.json`` for a shard).
    ``progress``: draw a bar (True/False), or None for :mod:`vidcap.progress`'s rule (a terminal, not quiet).

    Example:
        >>> extract(["a.mp4", "b.mkv"], "feats/", backbone="resnet18", weights="none")  # doctest: +SKIP
    """
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"batch_size={batch_size}: frames per forward pass must be at least 1")
    if workers < 0:
        raise UsageError(f"workers={workers}: decoding processes must be 0 (decode in this process) or more")
    sampling = Sampling() if sampling is None else sampling
    srcs = [s if isinstance(s, Source) else Source(Path(s).stem, Path(s)) for s in sources]
    model = get_backbone(backbone, weights=weights, device=device, **(options or {}))
    batch_size = batch_size or default_batch_size(model)
    writer = StoreWriter(out, model.spec(sampling), model.streams, extra=model.meta())
    store = FeatureStore(out)
    mine = select_shard(srcs, shard)
    fail_name = failures_name(shard)
    # Without a shard this is the only writer, so every leftover is stale; with shards, only our own are.
    writer.remove_temps(None if shard is None else [s.video_id for s in mine], fail_name)

    report = ExtractReport(Path(out), total=len(mine), shard=shard)
    todo = []
    for src in mine:
        damage = store.problem(src.video_id, full=verify) if writer.done(src.video_id) else None
        if damage:
            log.warning("%s: damaged store entry (%s); extracting it again", src.video_id, damage)
            report.redone.append(src.video_id)
        if writer.done(src.video_id) and not damage:
            report.skipped += 1
        elif src.problem:
            report.failures.append({"video_id": src.video_id, "path": str(src.path), "reason": src.problem})
        else:
            todo.append(src)
    for rec in report.failures:  # listed together afterwards (ExtractReport.problems), not one warning each
        log.debug("%s: %s", rec["path"], rec["reason"])
    writer.write_failures(fail_name, report.failures)
    if todo:
        _Run(model, writer, report, fail_name)(todo, sampling, batch_size, workers, progress)
    writer.write_failures(fail_name, report.failures)
    return report


class _Run:
    """One extraction run over the videos still to do: decode in workers, batch, write, record."""

    def __init__(self, model: Backbone, writer: StoreWriter, report: ExtractReport, fail_name: str):
        self.model, self.writer, self.report, self.fail_name = model, writer, report, fail_name

    def __call__(self, todo: list[Source], sampling: Sampling, batch_size: int, workers: int,
                 progress: bool | None) -> None:
        loader = torch.utils.data.DataLoader(
            _Clips(todo, sampling, self.model.transform, self.model.windows), batch_size=None, collate_fn=_as_is,
            num_workers=workers, worker_init_fn=_init_worker if workers else None,
            pin_memory=self.model.device.type == "cuda",
            in_order=False)  # a slow video must not hold back the rest; order never affects the bits
        batcher = _Batcher(self.model, batch_size)
        # Entries are written (npz + fsync) by one background thread, off the inference path; a video
        # counts as extracted once its file is in place.
        self.writes: deque[tuple[_Job, Future[None]]] = deque()
        desc = f"extract {self.report.shard[0]}/{self.report.shard[1]}" if self.report.shard else "extract"
        # OpenCV's thread pool does not survive fork(): a worker touching it can hang on a lock copied
        # from this process (ultralytics and the PyTorch docs give the same advice). So OpenCV runs
        # serially here while the workers live; each of them decodes one video at a time anyway.
        cv2_threads = cv2.getNumThreads()
        cv2.setNumThreads(0)
        self.start = time.perf_counter()
        try:
            with progress_bar(total=len(todo), unit="video", desc=desc, show=progress) as bar, \
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidcap-store") as self.pool:
                self.bar = bar
                for item in loader:
                    if "error" in item:
                        self._failed(item)
                    else:
                        self._finish(batcher.add(item))
                self._finish(batcher.flush())
                self._collect(wait=True)
        finally:
            cv2.setNumThreads(cv2_threads)
            self.report.seconds = time.perf_counter() - self.start

    def _failed(self, item: dict[str, Any]) -> None:
        log.debug("%s: %s", item["path"], item["error"])
        self.report.failures.append({"video_id": item["video_id"], "path": item["path"], "reason": item["error"]})
        self.writer.write_failures(self.fail_name, self.report.failures)  # kept current in case of a kill
        self.bar.update(1)

    def _finish(self, jobs: list[_Job]) -> None:
        for job in jobs:
            self.writes.append((job, self.pool.submit(_write, self.writer, self.model, job)))
        self._collect(wait=False)

    def _collect(self, *, wait: bool) -> None:
        """Count the written videos, in order; a failed write raises here, in the main thread."""
        done = 0
        while self.writes and (wait or self.writes[0][1].done()):
            job, future = self.writes.popleft()
            try:
                future.result()
            except InputError as err:  # features that may not be stored (non-finite): this video failed
                self._failed({"video_id": job.item["video_id"], "path": job.item["path"], "error": str(err)})
                continue
            self.report.extracted += 1
            self.report.frames += job.count
            done += 1
        if done:
            self.bar.update(done)
            rate = self.report.frames / (time.perf_counter() - self.start)
            self.bar.set_postfix_str(f"{rate:.1f} frames/s", refresh=False)


def _write(writer: StoreWriter, model: Backbone, job: _Job) -> None:
    item = job.item
    info = {k: _jsonable(v) if isinstance(v, (Path, np.generic)) else v for k, v in item["info"].items()}
    writer.write(item["video_id"], _finalized(model, job, item["size"]), indices=np.asarray(item["indices"]),
                 timestamps=np.asarray(item["timestamps"]), info=info)
