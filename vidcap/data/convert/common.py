"""What every dataset converter produces: the videos and captions of the MSR-VTT schema, what was left out
and why, the printed report, and the atomic, validated write of the annotation file.

A converter parses its files completely before anything is written; a file that is not in the expected
format raises :class:`~vidcap.errors.InputError` naming the file and what is wrong, and no output appears.
Everything a converter leaves out (a clip without an English caption, a caption row for a clip that the
split does not know, a blank caption) is counted in :attr:`Conversion.excluded` and shown in the report,
each entry listed with ``verbose``; nothing is dropped silently.

Example:
    >>> conv = Conversion("demo", [VideoEntry("clip1", "train"), VideoEntry("clip2", "test")],
    ...                   {"clip1": ["a cat sleeps"], "clip2": ["a dog runs", "a dog is running"]})
    >>> conv.counts()
    {'train': (1, 1), 'validate': (0, 0), 'test': (1, 2)}
    >>> conv.exclude("blank captions", [])
    >>> print(conv.report())
    demo: 2 videos, 3 captions
    split      videos  captions
    train           1         1
    validate        0         0
    test            1         2
    left out: 0 blank captions
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidcap.data.annotations import SPLITS, Annotations
from vidcap.errors import InputError
from vidcap.files import write_json

@dataclass(frozen=True)
class VideoEntry:
    """One converted video: its id (the clip's file stem), split, and extra keys kept in the file."""

    video_id: str
    split: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Excluded:
    """Something the conversion left out: what it is (a sentence fragment) and the entries."""

    what: str
    items: list[str]


@dataclass
class Conversion:
    """A converted dataset: ``videos`` in file order, ``captions`` video id → captions (verbatim, in the
    order of the source file), what was left out, and informational ``notes``."""

    dataset: str
    videos: list[VideoEntry]
    captions: dict[str, list[str]]
    excluded: list[Excluded] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)

    def exclude(self, what: str, items: list[str]) -> None:
        """Record that ``items`` were left out (recorded, and reported, even when there are none)."""
        self.excluded.append(Excluded(what, list(items)))

    def counts(self) -> dict[str, tuple[int, int]]:
        """split → (videos, captions), every split named even when empty."""
        counts = {s: [0, 0] for s in SPLITS}
        for video in self.videos:
            counts[video.split][0] += 1
            counts[video.split][1] += len(self.captions[video.video_id])
        return {s: (v, c) for s, (v, c) in counts.items()}

    def report(self, verbose: bool = False) -> str:
        """The summary printed by ``vidcap convert``; ``verbose`` lists every left-out entry."""
        counts = self.counts()
        total_captions = sum(c for _, c in counts.values())
        lines = [f"{self.dataset}: {len(self.videos)} videos, {total_captions} captions",
                 f"{'split':<10} {'videos':>6} {'captions':>9}"]
        lines += [f"{split:<10} {v:>6} {c:>9}" for split, (v, c) in counts.items()]
        for ex in self.excluded:
            hint = " (--verbose lists them)" if ex.items and not verbose else ""
            lines.append(f"left out: {len(ex.items)} {ex.what}{hint}")
            if verbose:
                lines += [f"  {item}" for item in ex.items]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def document(self) -> dict[str, Any]:
        """The annotation file's content: ``info``, ``videos`` and ``sentences`` (``sen_id`` counts up
        through the file, as in MSR-VTT)."""
        videos = [{**v.extra, "video_id": v.video_id, "split": v.split} for v in self.videos]
        sentences, sen_id = [], 0
        for video in self.videos:
            for caption in self.captions[video.video_id]:
                sentences.append({"video_id": video.video_id, "caption": caption, "sen_id": sen_id})
                sen_id += 1
        info = {"dataset": self.dataset, "converted_from": [p.name for p in self.sources],
                "writer": "vidcap convert"}
        return {"info": info, "videos": videos, "sentences": sentences}


def write_annotations(conversion: Conversion, out: str | os.PathLike[str]) -> Path:
    """Write ``conversion`` to ``out`` in the MSR-VTT schema, atomically: the file is staged next to
    ``out``, read back with :meth:`Annotations.load` and only then renamed into place, so ``out`` is
    either the previous file or a complete, loadable one.

    Example:
        >>> write_annotations(conversion, "msvd.json")          # doctest: +SKIP
        PosixPath('msvd.json')
    """
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the annotation file's path, e.g. {out / 'ann.json'}")
    if not conversion.videos:
        raise InputError(f"{', '.join(map(str, conversion.sources))}: no video with a caption to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as staging:
        staged = Path(staging) / out.name
        write_json(staged, conversion.document())
        try:
            Annotations.load(staged)
        except InputError as err:  # a converter bug, not the user's input: say so, write nothing
            raise InputError(f"{out}: the converted {conversion.dataset} annotations do not load back "
                             f"({err}); nothing was written") from None
        os.replace(staged, out)
    return out
