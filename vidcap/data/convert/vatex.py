"""VATEX (Wang et al., ICCV 2019) into the MSR-VTT schema.

Inputs, as distributed on the VATEX download page: JSON lists of ``{"videoID", "enCap", "chCap"}``,
``videoID`` = ``<YouTubeID>_<start:06d>_<end:06d>`` (how clip files are named), ``enCap`` 10 English
captions, ``chCap`` 10 Chinese ones: ``vatex_training_v1.0.json`` (25,991 clips),
``vatex_validation_v1.0.json`` (3,000) and the public test set with its English captions,
``vatex_public_test_english_v1.1.json`` (6,000; no ``chCap``). The private test set has no captions and
cannot be converted. Captioning papers report on the public test set (docs/datasets.md).

Output: ``video_id`` = ``videoID``; the English captions only, verbatim; splits train / validate / test
from the file each clip came from. Blank captions, captions with control characters
(:func:`vidcap.checks.control_characters`), and clips left without any, are reported.

Example:
    >>> conv = convert_vatex("vatex_training_v1.0.json", "vatex_validation_v1.0.json",
    ...                      "vatex_public_test_english_v1.1.json")          # doctest: +SKIP
    >>> conv.counts()["validate"]                                             # doctest: +SKIP
    (3000, 30000)
    >>> bool(VIDEO_ID.fullmatch("Ptf_2VRj-V0_000122_000132"))
    True
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from vidcap.checks import control_characters
from vidcap.data.convert.common import Conversion, VideoEntry
from vidcap.errors import InputError, listing
from vidcap.files import read_json

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}_[0-9]{6}_[0-9]{6}")
CAPTIONS_PER_CLIP = 10
PathLike = str | os.PathLike[str]


def read_vatex(path: PathLike) -> list[tuple[str, list[str]]]:
    """(videoID, enCap) of every clip of one VATEX file, in file order; InputError naming the file and
    the entries that are not ``{"videoID": "<YouTubeID>_<start:06d>_<end:06d>", "enCap": [str, ...]}``."""
    path = Path(path)
    data = read_json(path, "VATEX annotation file")
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: a VATEX annotation file is a non-empty JSON list of "
                         f"{{\"videoID\", \"enCap\", \"chCap\"}} objects, got {type(data).__name__}"
                         f"{' (empty)' if data == [] else ''}")
    clips: list[tuple[str, list[str]]] = []
    bad: list[str] = []
    no_english = 0
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("videoID"), str):
            bad.append(f"[{i}] is not an object with a videoID string")
            continue
        vid = entry["videoID"]
        if not VIDEO_ID.fullmatch(vid):
            bad.append(f"[{i}] videoID {vid!r:.40} is not <YouTubeID>_<start:06d>_<end:06d>")
        elif "enCap" not in entry:
            no_english += 1
            bad.append(f"[{i}] ({vid}) has no enCap")
        elif not isinstance(entry["enCap"], list) or not all(isinstance(c, str) for c in entry["enCap"]):
            bad.append(f"[{i}] ({vid}) enCap is not a list of strings")
        else:
            clips.append((vid, entry["enCap"]))
    if no_english == len(data):
        raise InputError(f"{path}: no entry has English captions (enCap); the private test file has none "
                         f"and cannot be converted (the public test file is vatex_public_test_english_v1.1.json)")
    if bad:
        raise InputError(f"{path}: malformed entries: {listing(bad)}")
    return clips


def convert_vatex(train: PathLike, validate: PathLike, test: PathLike | None = None) -> Conversion:
    """VATEX's training, validation and (optionally) public test files → a :class:`Conversion`.

    Example:
        >>> convert_vatex("vatex_training_v1.0.json", "vatex_validation_v1.0.json").counts()  # doctest: +SKIP
        {'train': (25991, 259910), 'validate': (3000, 30000), 'test': (0, 0)}
    """
    files = {"train": train, "validate": validate, **({"test": test} if test is not None else {})}
    conv = Conversion("VATEX", [], {}, sources=[Path(p) for p in files.values()])
    owner: dict[str, Path] = {}
    blank, captionless, repeated, unprintable = [], [], [], []
    per_clip: Counter[int] = Counter()
    for split, raw in files.items():
        path = Path(raw)
        for vid, captions in read_vatex(path):
            if vid in owner:
                repeated.append(f"{vid} ({owner[vid].name} and {path.name})")
                continue
            owner[vid] = path
            unprintable += [f"{vid} ({path.name}: {', '.join(control_characters(c))})"
                            for c in captions if control_characters(c)]
            kept = [c for c in captions if c.strip() and not control_characters(c)]
            blank += [f"{vid} ({path.name})"] * sum(not c.strip() for c in captions)
            per_clip[len(captions)] += 1
            if not kept:
                captionless.append(f"{vid} ({path.name})")
                continue
            conv.videos.append(VideoEntry(vid, split))
            conv.captions[vid] = kept
    if repeated:
        raise InputError(f"videoIDs listed twice: {listing(repeated)}")
    conv.exclude("clips without any English caption", captionless)
    conv.exclude("blank English captions", blank)
    conv.exclude("English captions with control characters", unprintable)
    other = {n: k for n, k in per_clip.items() if n != CAPTIONS_PER_CLIP}
    if other:
        conv.notes.append(f"clips with other than {CAPTIONS_PER_CLIP} English captions: "
                          + ", ".join(f"{k} with {n}" for n, k in sorted(other.items())))
    conv.notes.append("Chinese captions (chCap) are not used")
    if test is None:
        conv.notes.append("no test split (give --test vatex_public_test_english_v1.1.json for the one papers "
                          "report on)")
    return conv


__all__ = ["CAPTIONS_PER_CLIP", "VIDEO_ID", "convert_vatex", "read_vatex"]
