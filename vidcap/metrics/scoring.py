"""Score a COCO results file (or list) against MSR-VTT-schema annotations, per split.

Results are untrusted input; the rules (also in ``vidcap score --help`` and the README):

* a results file is a JSON list of objects ``{"video_id": str, "caption": str}``; ``image_id`` is accepted
  as a synonym of ``video_id`` (not both in one entry); integer ids are read as their decimal string;
  other keys (``score`` …) are ignored;
* every video of the split needs a caption: missing videos are an error listing them, unless
  ``allow_missing`` (then the videos present are scored and the report says how many of the split);
* ids not in the split, and ids given twice, are errors listing them;
* an empty or blank caption is scored as an empty sentence (0 for that video on BLEU, METEOR, ROUGE-L
  and CIDEr; it counts towards corpus BLEU's brevity penalty) and is counted;
* invalid JSON, a top level that is not a list, entries that are not objects, a missing id or caption,
  ids or captions of the wrong type, captions with control characters (line breaks, escapes:
  :func:`vidcap.checks.control_characters`) are errors naming the file and the entries.

Example:
    >>> report = score_results_file("results.json", ["test_videodatainfo.json"], split="test")  # doctest: +SKIP
    >>> print(report.table())                                                                   # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from vidcap.checks import control_characters
from vidcap.data.annotations import Annotations, natural_key
from vidcap.errors import InputError, UsageError, listing
from vidcap.files import read_json, write_atomic
from vidcap.metrics.coco import METRICS, Evaluation, evaluate, preflight
from vidcap.metrics.diversity import diversity
from vidcap.metrics.display import RAW_NOTE
from vidcap.metrics.meteor import MeteorPool

AnnotationSource = Annotations | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass
class ScoreReport:
    """Scores of one results set on one split, printable (:meth:`table`) and saveable (:meth:`write_json`)."""

    evaluation: Evaluation
    split: str
    source: str
    annotations: list[str]
    scored: int
    split_size: int
    blank: list[str] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)   # category → videos scored
    seconds: float = 0.0
    diversity: dict[str, Any] = field(default_factory=dict)     # vidcap.metrics.diversity.diversity

    @property
    def overall(self) -> dict[str, float]:
        return self.evaluation.overall

    def notes(self) -> list[str]:
        """One-line remarks a reader of the numbers must see."""
        ev, notes = self.evaluation, []
        if not ev.comparable:
            notes.append(f"NOT comparable to published numbers: tokenizer {ev.tokenizer!r}"
                         f"{', no METEOR' if 'METEOR' in ev.skipped else ''}")
        notes.extend(ev.skipped.values())
        if self.scored < self.split_size:
            notes.append(f"only {self.scored} of the {self.split_size} {self.split} videos were scored "
                         f"(--allow-missing): NOT comparable to numbers on the whole {self.split} split")
        if self.blank:
            notes.append(f"{len(self.blank)} blank caption(s) scored as empty sentences: {listing(self.blank)}")
        return notes

    def table(self) -> str:
        """A readable table: overall scores (x100, as papers print them, CIDEr included), then categories.

        Example:
            >>> print(report.table())   # doctest: +SKIP
            results.json on test: 2990 of 2990 videos
            metric     score
            Bleu_4     30.38 ...
        """
        names = list(self.overall)
        lines = [f"{self.source} on {self.split}: {self.scored} of {self.split_size} videos",
                 f"{'metric':<10} {'score':>7}"]
        lines += [f"{m:<10} {100 * v:>7.2f}" for m, v in self.overall.items()]
        if self.diversity:
            from vidcap.metrics.diversity import diversity_lines

            lines += diversity_lines(self.diversity)
        if self.evaluation.groups:
            width = max(len(g) for g in self.evaluation.groups) + 1
            lines += ["", f"{'category':<{width}} {'videos':>6} " + " ".join(f"{m:>8}" for m in names)]
            for group, scores in sorted(self.evaluation.groups.items()):
                lines.append(f"{group:<{width}} {self.categories.get(group, 0):>6} "
                             + " ".join(f"{100 * scores[m]:>8.2f}" for m in names))
        lines += [f"note: {n}" for n in self.notes()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: overall, per-video, per-category scores and how they were obtained."""
        ev = self.evaluation
        return {
            "source": self.source, "annotations": self.annotations, "split": self.split,
            "videos_scored": self.scored, "videos_in_split": self.split_size,
            "complete_split": self.scored == self.split_size,
            "metrics": list(self.overall), "overall": self.overall, "scale": RAW_NOTE,
            "comparable_to_published": ev.comparable, "tokenizer": ev.tokenizer,
            "skipped": ev.skipped, "blank_captions": self.blank, "notes": self.notes(),
            "diversity": self.diversity,
            "per_category": {g: {"videos": self.categories.get(g, 0), **s} for g, s in sorted(ev.groups.items())},
            "per_video": {str(vid): s for vid, s in ev.per_id.items()},
            "seconds": {"total": round(self.seconds, 3),
                        **{k: round(v, 3) for k, v in ev.seconds.items()}},
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` to ``path`` atomically, in its own key order (overall scores first)."""
        # NaN (a SPICE edge case) is written as null, keeping the file standard JSON.
        return write_atomic(path, json.dumps(_nan_to_none(self.to_dict()), indent=1, allow_nan=False) + "\n")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def load_results(path: str | os.PathLike[str]) -> list[Any]:
    """Read a results file's JSON list (entries are checked by :func:`check_results`)."""
    path = Path(path)
    data = read_json(path, "results file")
    if not isinstance(data, list):
        raise InputError(f"{path}: a results file is a JSON list of {{\"video_id\", \"caption\"}} objects, "
                         f"got a {type(data).__name__}")
    return data


def check_results(items: Iterable[Any], *, split_ids: Sequence[str], source: str = "results",
                  allow_missing: bool = False, annotations: Annotations | None = None
                  ) -> tuple[dict[str, str], list[str]]:
    """Apply the rules (module docstring): id → caption for the split's ids present, and blank ids."""
    captions: dict[str, str] = {}
    bad: list[str] = []
    duplicates: list[str] = []
    for i, entry in enumerate(items):
        vid, caption, problem = _entry(entry)
        if problem:
            bad.append(f"[{i}] {problem}")
        elif vid in captions:
            duplicates.append(vid)
        else:
            captions[vid] = caption
    if bad:
        raise InputError(f"{source}: malformed entries: {listing(bad)}")
    if duplicates:
        dups = sorted(set(duplicates), key=natural_key)
        raise InputError(f"{source}: videos with more than one caption: {listing(dups)}")
    wanted = set(split_ids)
    extra = sorted((vid for vid in captions if vid not in wanted), key=natural_key)
    if extra:
        elsewhere = ""
        if annotations is not None:
            other = sorted({annotations.videos[v].split for v in extra if v in annotations.videos})
            known = sum(v in annotations.videos for v in extra)
            if known:
                elsewhere = f" ({known} of them belong to the {'/'.join(other)} split)"
        raise InputError(f"{source}: ids not in the chosen split{elsewhere}: {listing(extra)}")
    missing = [vid for vid in split_ids if vid not in captions]
    if missing and not allow_missing:
        raise InputError(f"{source}: {len(missing)} of the {len(split_ids)} videos of the split have no caption "
                         f"(--allow-missing scores the others): {listing(missing)}")
    if not captions:
        raise InputError(f"{source}: no captions to score")
    ordered = {vid: captions[vid] for vid in split_ids if vid in captions}
    blank = [vid for vid, cap in ordered.items() if not cap.strip()]
    return ordered, blank


def _entry(entry: Any) -> tuple[str, str, str | None]:
    """(video id, caption, problem or None) of one results entry."""
    if not isinstance(entry, dict):
        return "", "", f"is a {type(entry).__name__}, not an object"
    keys = [k for k in ("video_id", "image_id") if k in entry]
    if len(keys) == 2:
        return "", "", "has both video_id and image_id"
    if not keys:
        return "", "", "lacks video_id (or image_id)"
    vid = entry[keys[0]]
    if isinstance(vid, bool) or not isinstance(vid, (str, int)):
        return "", "", f"has {keys[0]}={vid!r:.40} ({type(vid).__name__}, expected a string)"
    if "caption" not in entry:
        return "", "", f"({vid}) lacks caption"
    caption = entry["caption"]
    if not isinstance(caption, str):
        return "", "", f"({vid}) has caption={caption!r:.40} ({type(caption).__name__}, expected a string)"
    controls = control_characters(caption)
    if controls:  # a line break would shift every later caption in the tokenizer's line-per-caption stream
        return "", "", f"({vid}) has a caption with control characters {', '.join(controls)}"
    return str(vid), caption, None


def _annotations(source: AnnotationSource) -> Annotations:
    if isinstance(source, Annotations):
        return source
    paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    return Annotations.load(*paths)


def score_results(results: Iterable[Any], annotations: AnnotationSource, *, split: str = "test",
                  java: bool = True, spice: str = "auto", source: str = "results",
                  allow_missing: bool = False, tokenizer: Any = None, meteor: MeteorPool | None = None) -> ScoreReport:
    """Score COCO results entries (``{"video_id", "caption"}`` dicts) on ``split`` of ``annotations``.

    ``annotations``: an :class:`Annotations` or annotation file path(s). Without Java the captions are
    tokenised with :func:`vidcap.data.tokenize.tokenize` (or ``tokenizer``) and the report says the
    scores are not comparable to published numbers. ``meteor``: a METEOR pool started earlier (see
    :func:`vidcap.metrics.coco.evaluate`).

    Example:
        >>> report = score_results([{"video_id": "video7010", "caption": "a man is talking"}, ...],
        ...                        "test_videodatainfo.json", split="test")   # doctest: +SKIP
        >>> report.overall["CIDEr"]                                          # doctest: +SKIP
    """
    start = time.perf_counter()
    if tokenizer is None:
        if java:
            tokenizer = "ptb"
        else:
            from vidcap.data.tokenize import tokenize as tokenizer
    preflight(java=java, spice=spice, tokenizer=tokenizer)  # fail fast, before loading annotations
    ann = _annotations(annotations)
    split_ids = ann.ids(split)
    if not split_ids:
        raise UsageError(f"the annotations have no {split!r} videos")
    captions, blank = check_results(list(results), split_ids=split_ids, source=source,
                                    allow_missing=allow_missing, annotations=ann)
    refs = ann.references(captions)
    groups: dict[str, list[str]] = {}
    for vid in captions:
        category = ann.category_of(vid)
        if category is not None:
            groups.setdefault(category, []).append(vid)
    evaluation = evaluate(refs, {vid: [cap] for vid, cap in captions.items()}, java=java, spice=spice,
                          tokenizer=tokenizer, groups=groups, meteor=meteor)
    train_ids = ann.ids("train")
    training = [c for refs in ann.references(train_ids).values() for c in refs] if train_ids else None
    return ScoreReport(evaluation=evaluation, split=split, source=source,
                       annotations=[str(p) for p in ann.sources], scored=len(captions),
                       split_size=len(split_ids), blank=blank,
                       categories={g: len(m) for g, m in groups.items()},
                       seconds=time.perf_counter() - start,
                       diversity=diversity(list(evaluation.tokenized.values()), training=training))


def score_results_file(results_path: str | os.PathLike[str], annotations: AnnotationSource, *,
                       split: str = "test", allow_missing: bool = False, java: bool = True,
                       spice: str = "auto") -> ScoreReport:
    """:func:`score_results` on a COCO results JSON file (see the rules in the module docstring).

    Example:
        >>> score_results_file("results.json", ["test_videodatainfo.json"]).overall   # doctest: +SKIP
    """
    return score_results(load_results(results_path), annotations, split=split, java=java, spice=spice,
                         source=str(results_path), allow_missing=allow_missing)


__all__ = ["METRICS", "ScoreReport", "check_results", "load_results", "score_results", "score_results_file"]
