"""Caption annotations in the MSR-VTT ``videodatainfo.json`` schema (MSR-VTT and custom datasets).

A file is ``{"videos": [{"video_id", "split", "category"?, ...}], "sentences": [{"video_id", "caption",
"sen_id"}]}``; other keys ("info", "url", "start time", ...) are ignored. Several files merge into one
:class:`Annotations` (MSR-VTT ships ``train_val_videodatainfo.json`` and ``test_videodatainfo.json``).

Annotation files are untrusted input. Every problem below is an :class:`~vidcap.errors.InputError`
naming the file and the offending entries (the first few of each kind); there are no warnings, because
each of them would otherwise silently change a training set or a score:

* unreadable file, invalid JSON, a top level that is not an object, missing "videos"/"sentences" lists;
* a video or sentence that is not an object, lacks a required key or has a value of the wrong type
  (``video_id``/``split``/``caption`` strings, ``sen_id`` and ``category`` integers, ``category`` optional);
* a video id that could name a path (``/``, ``\\``, ``..``, control characters: ids become file
  names; :func:`vidcap.checks.id_problem`), a caption with control characters (escapes, newlines,
  bidirectional overrides: :func:`vidcap.checks.control_characters`);
* a split other than ``train``, ``validate``, ``test``;
* the same video id twice (within one file or across the merged files), the same ``sen_id`` twice for
  one video;
* a sentence for a video that no merged file lists, a video without any sentence, a blank caption.

Captions are whitespace-stripped (1,266 MSR-VTT captions have stray spaces) and kept in ``sen_id`` order.

Example:
    >>> ann = Annotations.load("train_val_videodatainfo.json", "test_videodatainfo.json")  # doctest: +SKIP
    >>> ann.ids("test")[:2], len(ann.references(["video7010"])["video7010"])              # doctest: +SKIP
    (['video7010', 'video7011'], 20)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from vidcap.checks import control_characters, id_problem
from vidcap.errors import InputError, UsageError, listing
from vidcap.files import read_json

SPLITS = ("train", "validate", "test")

# MSR-VTT's category.txt, in its order (index = category id).
CATEGORY_NAMES: dict[int, str] = dict(enumerate([
    "music", "people", "gaming", "sports/actions", "news/events/politics", "education", "tv shows",
    "movie/comedy", "animation", "vehicles/autos", "howto", "travel", "science/technology",
    "animals/pets", "kids/family", "documentary", "food/drink", "cooking", "beauty/fashion",
    "advertisement"]))


@dataclass(frozen=True)
class VideoRecord:
    """One annotated video: its id, split and (MSR-VTT) category id, ``None`` when the file has none."""

    video_id: str
    split: str
    category: int | None = None


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value: ``video2`` before ``video10``.

    Example:
        >>> sorted(["video10", "video2", "clip"], key=natural_key)
        ['clip', 'video2', 'video10']
    """
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text) if part)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Annotations:
    """Videos and reference captions of one or more MSR-VTT-schema files.

    Attributes:
        videos: video id → :class:`VideoRecord`.
        captions: video id → stripped captions in ``sen_id`` order.
        sources: the files loaded, in order.
        category_names: MSR-VTT category id → name (category.txt).
    """

    category_names: dict[int, str] = CATEGORY_NAMES

    def __init__(self, videos: Mapping[str, VideoRecord], captions: Mapping[str, list[str]],
                 sources: Iterable[Path] = ()) -> None:
        self.videos = dict(videos)
        self.captions = {vid: list(caps) for vid, caps in captions.items()}
        self.sources = list(sources)

    @classmethod
    def load(cls, *paths: str | Path) -> "Annotations":
        """Read and merge MSR-VTT-schema files, validating them (see the module docstring).

        Example:
            >>> Annotations.load("test_videodatainfo.json").ids("test")[0]   # doctest: +SKIP
            'video7010'
        """
        if not paths:
            raise UsageError("Annotations.load needs at least one annotation file")
        videos: dict[str, VideoRecord] = {}
        owner: dict[str, Path] = {}
        pending: list[tuple[Path, list[tuple[int, str, str]]]] = []
        for raw_path in paths:
            path = Path(raw_path)
            file_videos, sentences = _parse_file(path)
            clashes = [vid for vid in file_videos if vid in videos]
            if clashes:
                raise InputError(f"{path}: video ids already listed in {owner[clashes[0]]}: "
                                 f"{listing(clashes)}")
            videos.update(file_videos)
            owner.update(dict.fromkeys(file_videos, path))
            pending.append((path, sentences))

        # Sentences are checked after merging so that a file may caption a video listed in another.
        by_video: dict[str, list[tuple[int, str]]] = {vid: [] for vid in videos}
        for path, sentences in pending:
            unknown = sorted({vid for _, vid, _ in sentences if vid not in videos}, key=natural_key)
            if unknown:
                raise InputError(f"{path}: sentences for videos that no annotation file lists: "
                                 f"{listing(unknown)}")
            for sen_id, vid, caption in sentences:
                by_video[vid].append((sen_id, caption))
        uncaptioned = sorted((vid for vid, sens in by_video.items() if not sens), key=natural_key)
        if uncaptioned:
            raise InputError(f"{owner[uncaptioned[0]]}: videos without any sentence: {listing(uncaptioned)}")
        repeated = sorted({f"{vid} sen_id {s}" for vid, sens in by_video.items()
                           for s in _duplicates([s for s, _ in sens])}, key=natural_key)
        if repeated:
            raise InputError(f"{', '.join(map(str, paths))}: sentence ids repeated for one video: "
                             f"{listing(repeated)}")
        captions = {vid: [c for _, c in sorted(sens)] for vid, sens in by_video.items()}
        return cls(videos, captions, [Path(p) for p in paths])

    def ids(self, split: str | None = None) -> list[str]:
        """Video ids of ``split`` (all videos when ``None``), naturally sorted.

        Example:
            >>> ann = Annotations({"v10": VideoRecord("v10", "test"), "v2": VideoRecord("v2", "test")},
            ...                   {"v10": ["a"], "v2": ["b"]})
            >>> ann.ids("test")
            ['v2', 'v10']
        """
        if split is not None and split not in SPLITS:
            raise UsageError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return sorted((vid for vid, rec in self.videos.items() if split is None or rec.split == split),
                      key=natural_key)

    def references(self, ids: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Reference captions (stripped, ``sen_id`` order) of ``ids`` (all videos when ``None``).

        Example:
            >>> Annotations({"v1": VideoRecord("v1", "train")}, {"v1": ["a cat"]}).references()
            {'v1': ['a cat']}
        """
        chosen = self.ids() if ids is None else list(ids)
        unknown = [vid for vid in chosen if vid not in self.captions]
        if unknown:
            raise UsageError(f"unknown video ids: {listing(unknown)}")
        return {vid: list(self.captions[vid]) for vid in chosen}

    def category_of(self, video_id: str) -> str | None:
        """The category name of a video, ``None`` when it has no (known) category."""
        category = self.videos[video_id].category
        return None if category is None else self.category_names.get(category, f"category {category}")

    def __len__(self) -> int:
        return len(self.videos)

    def __repr__(self) -> str:
        return f"Annotations({len(self.videos)} videos from {', '.join(map(str, self.sources)) or 'memory'})"


def _duplicates(values: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    dups: list[Any] = []
    for value in values:
        if value in seen and value not in dups:
            dups.append(value)
        seen.add(value)
    return dups


def _parse_file(path: Path) -> tuple[dict[str, VideoRecord], list[tuple[int, str, str]]]:
    """Validate one file; returns its videos and its (sen_id, video_id, stripped caption) triples."""
    data = read_json(path, "annotation file")
    if not isinstance(data, dict):
        raise InputError(f"{path}: top level must be an object with 'videos' and 'sentences', "
                         f"got a {type(data).__name__}")
    for key in ("videos", "sentences"):
        if not isinstance(data.get(key), list):
            what = "missing" if key not in data else f"a {type(data[key]).__name__}, not a list"
            raise InputError(f"{path}: '{key}' is {what} (MSR-VTT videodatainfo.json schema expected)")

    videos: dict[str, VideoRecord] = {}
    bad: list[str] = []
    bad_split: list[str] = []
    dup_ids: list[str] = []
    for i, entry in enumerate(data["videos"]):
        problem = _check(entry, {"video_id": str, "split": str}, {"category": int})
        if problem:
            bad.append(f"videos[{i}] {problem}")
            continue
        vid = entry["video_id"]
        problem = id_problem(vid)
        if problem:
            bad.append(f"videos[{i}] video_id {vid[:60]!r}{'...' if len(vid) > 60 else ''} {problem}")
        elif entry["split"] not in SPLITS:
            bad_split.append(f"{vid} ({entry['split']!r})")
        elif vid in videos:
            dup_ids.append(vid)
        else:
            videos[vid] = VideoRecord(vid, entry["split"], entry.get("category"))
    if bad:
        raise InputError(f"{path}: malformed videos: {listing(bad)}")
    if bad_split:
        raise InputError(f"{path}: unknown split (expected one of {', '.join(SPLITS)}): {listing(bad_split)}")
    if dup_ids:
        raise InputError(f"{path}: duplicate video ids: {listing(sorted(set(dup_ids), key=natural_key))}")

    sentences: list[tuple[int, str, str]] = []
    blank: list[str] = []
    for i, entry in enumerate(data["sentences"]):
        problem = _check(entry, {"video_id": str, "caption": str, "sen_id": int}, {})
        if problem:
            bad.append(f"sentences[{i}] {problem}")
            continue
        caption = entry["caption"].strip()
        controls = control_characters(caption)
        if controls:
            bad.append(f"sentences[{i}] (sen_id {entry['sen_id']}) caption has control characters "
                       f"{', '.join(controls)}")
            continue
        if not caption:
            blank.append(f"sen_id {entry['sen_id']} ({entry['video_id']})")
        sentences.append((entry["sen_id"], entry["video_id"], caption))
    if bad:
        raise InputError(f"{path}: malformed sentences: {listing(bad)}")
    if blank:
        raise InputError(f"{path}: blank captions: {listing(blank)}")
    return videos, sentences


def _check(entry: Any, required: dict[str, type], optional: dict[str, type]) -> str | None:
    """Why ``entry`` is not an object with these typed keys, or ``None`` when it is."""
    if not isinstance(entry, dict):
        return f"is a {type(entry).__name__}, not an object"
    for key, kind in required.items():
        if key not in entry:
            return f"lacks {key!r}"
    for key, kind in {**required, **optional}.items():
        if key not in entry or (key in optional and entry[key] is None):
            continue
        value = entry[key]
        ok = _is_int(value) if kind is int else isinstance(value, kind)
        if not ok:
            return f"has {key}={value!r:.40} ({type(value).__name__}, expected {kind.__name__})"
    return None
