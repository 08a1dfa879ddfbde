"""Which videos to extract: from paths, a folder, or an annotation file's ids; and sharding.

Example:
    >>> [s.video_id for s in collect_sources(["a/clip1.mp4", "b/clip2.avi"])]
    ['clip1', 'clip2']
    >>> parse_shard("1/4")
    (1, 4)
"""
from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vidcap.checks import check_id
from vidcap.errors import InputError, UsageError
from vidcap.files import read_json

# What counts as a video inside --video-dir (case-insensitive); anything else there is ignored.
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv",
                              ".flv", ".3gp", ".ts", ".ogv"})


@dataclass(frozen=True)
class Source:
    """One video to extract. ``problem`` is set when it is known to fail before decoding (no file,
    ambiguous files); ``path`` is then the place it was looked for. Ids taken from annotations carry
    their ``split``, and ``missing`` says that no file was found for them (e.g. a clip gone from YouTube)."""

    video_id: str
    path: Path
    problem: str | None = None
    split: str | None = None
    missing: bool = False


def _by_stem(paths: Sequence[Path], where: str) -> list[Source]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        groups[path.stem].append(path)
    sources = []
    for vid, found in sorted(groups.items()):
        problem = None
        if len(found) > 1:  # both would be stored under the same id: refuse to guess which one is meant
            problem = f"several files for id {vid} {where}: {', '.join(sorted(str(p) for p in found))}"
        sources.append(Source(vid, found[0], problem))
    return sources


def _videos_in(video_dir: Path) -> list[Path]:
    if not video_dir.is_dir():
        raise InputError(f"video folder {video_dir}: no such folder")
    return [video_dir / e.name for e in os.scandir(video_dir)
            if e.is_file() and not e.name.startswith(".") and Path(e.name).suffix.lower() in VIDEO_EXTENSIONS]


def _annotation_ids(paths: Sequence[Path], split: str | None) -> dict[str, str | None]:
    """Video id → split (optionally of one split only), sorted by id, from MSR-VTT-schema files. Parsed
    minimally here because vidcap.data sits below vidcap.features in the layering."""
    ids: dict[str, str | None] = {}
    for path in paths:
        data = read_json(path, "annotation file")
        try:
            ids.update((str(v["video_id"]), v.get("split")) for v in data["videos"]
                       if split is None or v.get("split") == split)
        except (KeyError, TypeError, AttributeError) as err:
            raise InputError(f"annotations {path}: not an MSR-VTT-schema file with videos[].video_id "
                             f"({type(err).__name__}: {err})") from None
        for vid in ids:  # an id is looked up as <video dir>/<id>.<ext>: it may not name another path
            check_id(vid, f"annotations {path}")
    return dict(sorted(ids.items()))


def collect_sources(videos: Sequence[str | os.PathLike[str]] = (), *, video_dir: str | os.PathLike[str] | None = None,
                    annotations: Sequence[str | os.PathLike[str]] | None = None,
                    split: str | None = None) -> list[Source]:
    """The videos to extract, sorted by id (= file stem).

    ``videos``: explicit paths (a missing one becomes a per-video failure, not an error). ``video_dir``:
    every video file inside it; with ``annotations``, the annotated ids (of ``split``) instead, each
    looked up as ``<id>.<ext>`` in ``video_dir`` — an id without a file becomes a per-video failure.

    Example:
        >>> srcs = collect_sources(video_dir="msrvtt/videos", annotations=["test_videodatainfo.json"],
        ...                        split="test")                              # doctest: +SKIP
    """
    if annotations and video_dir is None:
        raise UsageError("annotations need a video folder (video_dir), the folder holding <video_id>.<ext> files")
    if split is not None and not annotations:
        raise UsageError("a split only applies to the videos that annotations list")
    if videos and video_dir is not None:
        raise UsageError("give video files or a video folder, not both")
    if video_dir is None:
        if not videos:
            raise UsageError("no videos given: name video files or a video folder")
        return _by_stem([Path(v) for v in videos], "among the given VIDEOs")
    folder = Path(video_dir)
    found = _by_stem(_videos_in(folder), f"in {folder}")
    if not annotations:
        if not found:
            raise InputError(f"video folder {folder}: no video files ({', '.join(sorted(VIDEO_EXTENSIONS))})")
        return found
    ids = _annotation_ids([Path(a) for a in annotations], split)
    if not ids:
        raise InputError(f"annotations: no videos{f' in split {split!r}' if split else ''}")
    by_id = {s.video_id: s for s in found}
    return [dataclasses.replace(by_id[v], split=s) if v in by_id
            else Source(v, folder / v, f"no video file for id {v} in {folder}", split=s, missing=True)
            for v, s in ids.items()]


def missing_by_split(sources: Sequence[Source]) -> dict[str, tuple[int, int]]:
    """Split → (videos without a file, videos), for the sources taken from annotations.

    Example:
        >>> missing_by_split([Source("a", Path("a"), split="test"),
        ...                   Source("b", Path("b"), "no file", split="test", missing=True)])
        {'test': (1, 2)}
    """
    counts: dict[str, list[int]] = {}
    for src in sources:
        if src.split is not None:
            count = counts.setdefault(src.split, [0, 0])
            count[0] += src.missing
            count[1] += 1
    order = {s: i for i, s in enumerate(("train", "validate", "test"))}
    return {s: (m, n) for s, (m, n) in sorted(counts.items(), key=lambda kv: (order.get(kv[0], 3), kv[0]))}


def missing_summary(sources: Sequence[Source]) -> str | None:
    """One line saying how many annotated videos of each split have no file, or None when not from
    annotations.

    Example:
        >>> missing_summary([Source("a", Path("a"), split="train"),
        ...                  Source("b", Path("b"), "no file", split="test", missing=True)])
        'videos without a file: train 0 of 1, test 1 of 1 (listed in failures.json)'
    """
    counts = missing_by_split(sources)
    if not counts:
        return None
    parts = ", ".join(f"{split} {m} of {n}" for split, (m, n) in counts.items())
    return f"videos without a file: {parts}{' (listed in failures.json)' if any(m for m, _ in counts.values()) else ''}"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` → ``(i, n)`` with 0 ≤ i < n. ``None`` → torchrun's ``(RANK, WORLD_SIZE)`` when those
    are set (and WORLD_SIZE > 1), else None (no sharding).

    Example:
        >>> parse_shard("0/2"), parse_shard(None)     # outside torchrun
        ((0, 2), None)
    """
    if text is None:
        rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
        if rank is None or world is None or int(world) <= 1:
            return None
        text = f"{rank}/{world}"
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or not 0 <= i < n:
        raise UsageError(f"shard {text!r}: expected i/n with 0 <= i < n, e.g. 0/4")
    return i, n


def select_shard(sources: Sequence[Source], shard: tuple[int, int] | None) -> list[Source]:
    """Every n-th source (sorted by id) starting at i; all of them without a shard."""
    ordered = sorted(sources, key=lambda s: s.video_id)
    return ordered if shard is None else ordered[shard[0]::shard[1]]
