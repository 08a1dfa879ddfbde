"""MSVD (the Microsoft Research Video Description Corpus, Chen & Dolan 2011) into the MSR-VTT schema.

Inputs, as distributed:

* the corpus CSV, ``MSR Video Description Corpus.csv``: a header row ``VideoID,Start,End,WorkerID,Source,
  AnnotationTime,Language,Description`` and one row per description, in many languages, some of them
  empty. A clip is ``<VideoID>_<Start>_<End>``, its file in ``YouTubeClips.tar`` is ``<clip>.avi``.
* ``youtube_mapping.txt``: one line ``<clip> vid<N>`` per clip, N = 1..1970 (e.g. in the SA-LSTM code,
  yaoli/arctic-capgen-vid, ``youtube_mapping.txt``).

Output: ``video_id`` = the clip (its file stem), the English, non-empty descriptions verbatim (scoring
tokenises), and the split the published tables use: vid1–vid1200 train, vid1201–vid1300 validate,
vid1301–vid1970 test (Venugopalan et al. 2015; Yao et al. 2015 — arctic-capgen-vid ``data_engine.py``
builds exactly these id ranges). ``split_file`` replaces it with any other split. See docs/datasets.md.

Example:
    >>> conv = convert_msvd("MSR Video Description Corpus.csv", "youtube_mapping.txt")   # doctest: +SKIP
    >>> conv.counts()["test"][0]                                                          # doctest: +SKIP
    670
    >>> published_split(1200), published_split(1201), published_split(1970)
    ('train', 'validate', 'test')
"""
from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

from vidcap.checks import control_characters, id_problem
from vidcap.data.annotations import SPLITS
from vidcap.data.convert.common import Conversion, VideoEntry
from vidcap.errors import InputError, listing
from vidcap.files import read_json, read_text

COLUMNS = ("VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description")
USED = ("VideoID", "Start", "End", "Language", "Description")
# (first vid number, last vid number, split): Venugopalan et al. 2015 / Yao et al. 2015.
PUBLISHED_SPLIT = ((1, 1200, "train"), (1201, 1300, "validate"), (1301, 1970, "test"))
_VID = re.compile(r"vid([1-9][0-9]*)")
_CLIP = re.compile(r".+_[0-9]+_[0-9]+")
PathLike = str | os.PathLike[str]


def published_split(n: int) -> str | None:
    """The split of ``vid<n>`` in the published MSVD split; None outside vid1–vid1970."""
    return next((split for lo, hi, split in PUBLISHED_SPLIT if lo <= n <= hi), None)


def read_mapping(path: PathLike) -> dict[str, int]:
    """``youtube_mapping.txt`` → clip → N (of ``vid<N>``), in file order; InputError naming the lines
    that are not ``<clip> vid<N>``, and repeated clips or numbers."""
    path = Path(path)
    text = read_text(path, "MSVD mapping file")
    mapping: dict[str, int] = {}
    owner: dict[int, str] = {}
    bad, repeated = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        match = _VID.fullmatch(parts[1]) if len(parts) == 2 else None
        if match is None or not _CLIP.fullmatch(parts[0]) or id_problem(parts[0]):
            bad.append(f"line {number} {line.strip()[:60]!r}")
            continue
        clip, n = parts[0], int(match.group(1))
        if clip in mapping or n in owner:
            repeated.append(f"line {number} ({clip} vid{n})")
            continue
        mapping[clip] = n
        owner[n] = clip
    if bad:
        raise InputError(f"{path}: not an MSVD mapping file: lines that are not '<VideoID>_<Start>_<End> "
                         f"vid<N>': {listing(bad)}")
    if repeated:
        raise InputError(f"{path}: clip or vid number given twice: {listing(repeated)}")
    if not mapping:
        raise InputError(f"{path}: the MSVD mapping file is empty")
    return mapping


def read_corpus(path: PathLike) -> list[tuple[int, dict[str, str]]]:
    """The corpus CSV's rows as (line number, {column: value}); a row shorter than the header gets empty
    strings for its missing trailing fields. InputError for a missing file or column, text that is not
    UTF-8 CSV, rows longer than the header, and rows without a clip (VideoID, integer Start and End)."""
    path = Path(path)
    rows: list[tuple[int, dict[str, str]]] = []
    bad: list[str] = []
    text = read_text(path, "MSVD corpus CSV")
    # strict: a stray quote is an error, not a field silently glued together (csv's default)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in USED if c not in header]
        if missing:
            raise InputError(f"{path}: not the MSVD corpus CSV: missing column(s) {', '.join(missing)} "
                             f"(expected the header {','.join(COLUMNS)})")
        start = reader.line_num + 1
        for fields in reader:
            line, end, start = start, reader.line_num, reader.line_num + 1
            if end > line:  # no MSVD field holds a line break: a quote was left open and swallowed rows
                bad.append(f"lines {line}-{end} are one record (a quote opened on line {line} closes on "
                           f"line {end})")
                continue
            if len(fields) > len(header):
                bad.append(f"line {line} has {len(fields)} fields, the header {len(header)}")
                continue
            row = dict(zip(header, fields + [""] * (len(header) - len(fields))))
            if not row["VideoID"].strip() or not _is_int(row["Start"]) or not _is_int(row["End"]):
                bad.append(f"line {line} (VideoID={row['VideoID']!r:.20}, Start={row['Start']!r:.10}, "
                           f"End={row['End']!r:.10})")
                continue
            problem = id_problem(clip_name(row))
            if problem:
                bad.append(f"line {line}: clip {clip_name(row)!r:.40} {problem}")
                continue
            rows.append((line, row))
    except csv.Error as err:
        raise InputError(f"{path}: line {reader.line_num}: malformed CSV ({err}); expected the MSVD corpus "
                         "CSV") from None
    if bad:
        raise InputError(f"{path}: malformed rows: {listing(bad)}")
    if not rows:
        raise InputError(f"{path}: the MSVD corpus CSV has a header but no rows")
    return rows


def _is_int(text: str) -> bool:
    return text.strip().isdigit()


def clip_name(row: dict[str, str]) -> str:
    """``<VideoID>_<Start>_<End>``, the clip's file stem (Start and End as plain integers).

    Example:
        >>> clip_name({"VideoID": "-4wsuPCjDBc", "Start": "5", "End": "15"})
        '-4wsuPCjDBc_5_15'
    """
    return f"{row['VideoID'].strip()}_{int(row['Start'])}_{int(row['End'])}"


def read_split_file(path: PathLike, mapping: dict[str, int]) -> dict[str, str]:
    """A ``--split-file``: a JSON object split → list of clips (``<VideoID>_<Start>_<End>`` or the
    mapping's ``vid<N>``), e.g. ``{"train": [...], "validate": [...], "test": [...]}``; returns clip → split.

    Example:
        >>> read_split_file("my_split.json", {"a_1_5": 1, "b_0_9": 2})   # doctest: +SKIP
        {'a_1_5': 'train', 'b_0_9': 'test'}
    """
    path = Path(path)
    data = read_json(path, "split file")
    if (not isinstance(data, dict) or not data
            or any(k not in SPLITS or not isinstance(v, list) for k, v in data.items())):
        raise InputError(f"{path}: a split file is a JSON object {{\"train\": [...], \"validate\": [...], "
                         f"\"test\": [...]}} of clip names or vid<N> ids")
    by_vid = {f"vid{n}": clip for clip, n in mapping.items()}
    chosen: dict[str, str] = {}
    unknown, repeated = [], []
    for split, ids in data.items():
        for item in ids:
            clip = by_vid.get(item, item) if isinstance(item, str) else None
            if clip not in mapping:
                unknown.append(f"{item!r:.40} ({split})")
            elif clip in chosen:
                repeated.append(f"{item} ({chosen[clip]} and {split})")
            else:
                chosen[clip] = split
    if unknown:
        raise InputError(f"{path}: ids that the mapping file does not list: {listing(unknown)}")
    if repeated:
        raise InputError(f"{path}: clips in more than one split: {listing(repeated)}")
    return chosen


def convert_msvd(csv_path: PathLike, mapping_path: PathLike, *, split_file: PathLike | None = None) -> Conversion:
    """MSVD's corpus CSV + mapping file → a :class:`Conversion` (see the module docstring).

    Left out, and reported: clips of the mapping without an English description, CSV rows whose clip
    the mapping does not list, empty English descriptions, English descriptions with control characters
    (:func:`vidcap.checks.control_characters`), and (with ``split_file``) clips it leaves out.

    Example:
        >>> conv = convert_msvd("corpus.csv", "youtube_mapping.txt")   # doctest: +SKIP
        >>> [v.video_id for v in conv.videos][:1]                       # doctest: +SKIP
        ['-4wsuPCjDBc_5_15']
    """
    mapping = read_mapping(mapping_path)
    rows = read_corpus(csv_path)
    if split_file is not None:
        split_of = read_split_file(split_file, mapping)
        split_name = f"the split in {Path(split_file).name}"
    else:
        outside = [f"{clip} vid{n}" for clip, n in mapping.items() if published_split(n) is None]
        if outside:
            raise InputError(f"{mapping_path}: vid numbers outside the published split vid1-vid1970 "
                             f"(give --split-file for another split): {listing(outside)}")
        split_of = {clip: published_split(n) for clip, n in mapping.items()}
        split_name = "the published split (vid1-1200 train, vid1201-1300 validate, vid1301-1970 test)"

    captions: dict[str, list[str]] = defaultdict(list)
    unmapped: list[str] = []
    languages: Counter[str] = Counter()
    empty: list[str] = []
    unprintable: list[str] = []
    for line, row in rows:
        clip = clip_name(row)
        if clip not in mapping:
            unmapped.append(f"line {line} ({clip}, {row['Language'].strip() or 'no language'})")
            continue
        language = row["Language"].strip()
        languages[language] += 1
        if language != "English":
            continue
        if not row["Description"].strip():
            empty.append(f"line {line} ({clip})")
            continue
        controls = control_characters(row["Description"])
        if controls:
            unprintable.append(f"line {line} ({clip}: {', '.join(controls)})")
            continue
        captions[clip].append(row["Description"])

    order = sorted(mapping, key=lambda clip: mapping[clip])
    conv = Conversion("MSVD", [], {}, sources=[Path(csv_path), Path(mapping_path)])
    for clip in order:
        if clip in split_of and captions.get(clip):
            youtube_id, start, end = clip.rsplit("_", 2)
            extra = {"vid": f"vid{mapping[clip]}", "url": f"https://www.youtube.com/watch?v={youtube_id}",
                     "start time": int(start), "end time": int(end)}
            conv.videos.append(VideoEntry(clip, split_of[clip], extra))
            conv.captions[clip] = captions[clip]
    conv.exclude(f"clips of {Path(mapping_path).name} without an English description",
                 [f"{clip} (vid{mapping[clip]})" for clip in order if not captions.get(clip)])
    conv.exclude(f"CSV rows whose clip {Path(mapping_path).name} does not list", unmapped)
    conv.exclude("empty English descriptions", empty)
    conv.exclude("English descriptions with control characters", unprintable)
    if split_file is not None:
        conv.exclude(f"clips that {Path(split_file).name} leaves out",
                     [f"{clip} (vid{mapping[clip]})" for clip in order if clip not in split_of])
    others = sorted((n, lang or "(none)") for lang, n in languages.items() if lang != "English")
    if others:
        shown = ", ".join(f"{lang} {n}" for n, lang in sorted(others, key=lambda t: (-t[0], t[1])))
        conv.notes.append(f"{sum(n for n, _ in others)} descriptions in other languages not used ({shown})")
    conv.notes.append(f"splits: {split_name}")
    return conv


__all__ = ["COLUMNS", "PUBLISHED_SPLIT", "clip_name", "convert_msvd", "published_split", "read_corpus",
           "read_mapping", "read_split_file"]
