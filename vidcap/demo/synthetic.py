"""Synthetic captioning clips: real video files of a coloured shape moving over a textured background.

Each clip shows one shape (circle, square, triangle) of one colour (red, green, blue, yellow) moving in
one direction (left, right, up, down) over a noisy, randomly tinted, low-frequency texture. Size,
position, speed, duration, frame size (160×120, 192×144, 128×96), frame rate (10, 15, 25 fps) and
container/codec (mp4v ``.mp4``, MJPG ``.avi``, XVID ``.avi``) vary from clip to clip, so decoding,
sampling and feature extraction are exercised as on real data. Every clip gets several paraphrased
reference captions ("a red circle moves to the left", "the red ball is moving left", …), a
train/validate/test split, and annotations in the MSR-VTT ``videodatainfo.json`` schema (category 8,
MSR-VTT's "animation"). The ground-truth attributes are written next to them (``attributes.json``) so
that generated captions can be checked for naming the right colour, shape and motion
(:func:`attribute_accuracy`).

Example:
    >>> ds = generate("synth/", n_videos=48, seed=0)                     # doctest: +SKIP
    >>> ds.annotations.name, len(ds.attributes)                           # doctest: +SKIP
    ('annotations.json', 48)
    >>> caption_attributes("the red ball is moving left")
    {'colour': {'red'}, 'shape': {'circle'}, 'motion': {'left'}}
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any, Iterable, Mapping

import cv2
import numpy as np

from vidcap.data.annotations import SPLITS
from vidcap.errors import InputError, UsageError
from vidcap.files import read_json, write_json

# RGB; saturated, far apart from each other and from the desaturated backgrounds.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35), "green": (35, 175, 55), "blue": (40, 70, 225), "yellow": (235, 210, 35)}
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("left", "right", "up", "down")
ATTRIBUTES = ("colour", "shape", "motion")

# Paraphrases used in the reference captions. The same words identify attributes in generated captions.
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "disc"), "square": ("square", "box", "block"), "triangle": ("triangle",)}
MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("moves to the left", "is moving left", "slides to the left", "goes left"),
    "right": ("moves to the right", "is moving right", "slides to the right", "goes right"),
    "up": ("moves up", "is moving upward", "rises", "goes up"),
    "down": ("moves down", "is moving downward", "falls", "goes down"),
}
MOTION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("left", "leftward", "leftwards"), "right": ("right", "rightward", "rightwards"),
    "up": ("up", "upward", "upwards", "rises", "rising"),
    "down": ("down", "downward", "downwards", "falls", "falling", "drops", "dropping")}
TEMPLATES = ("a {colour} {shape} {motion}", "the {colour} {shape} {motion}",
             "a {shape} colored {colour} {motion}")

# (file extension, OpenCV fourcc): the codecs OpenCV can write without extra libraries.
CONTAINERS = ((".mp4", "mp4v"), (".avi", "MJPG"), (".avi", "XVID"))
SIZES = ((160, 120), (192, 144), (128, 96))  # (width, height)
FPS = (10, 15, 25)
CATEGORY = 8  # MSR-VTT's "animation"


@dataclass(frozen=True)
class SyntheticDataset:
    """What :func:`generate` wrote: ``video_dir/<video_id>.<ext>``, the annotations file, and the
    ground-truth attributes per video (``{"colour", "shape", "motion", "split", "file", ...}``)."""

    root: Path
    video_dir: Path
    annotations: Path
    attributes_file: Path
    attributes: dict[str, dict[str, Any]]

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> "SyntheticDataset":
        """What an earlier :func:`generate` wrote under ``root`` (InputError if it is not all there).

        Example:
            >>> SyntheticDataset.open("synth/").ids("test")[:1]            # doctest: +SKIP
            ['synth0003']
        """
        root = Path(root)
        annotations = root / "annotations.json"
        if not annotations.is_file():
            raise InputError(f"{annotations}: missing; {root} is not a folder written by generate()")
        attributes = load_attributes(root / "attributes.json")
        return cls(root, root / "videos", annotations, root / "attributes.json", attributes)

    def ids(self, split: str | None = None) -> list[str]:
        """Video ids, optionally of one split, in generation order."""
        return [v for v, a in self.attributes.items() if split is None or a["split"] == split]


def _split_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    n_val = max(1, round(n * fractions[1]))
    n_test = max(1, round(n * fractions[2]))
    return n - n_val - n_test, n_val, n_test


# Gaussian noise of standard deviation 6 grey levels in 256 equally likely steps: the normal quantiles
# at the midpoints of 256 equal probability bins.
_NOISE = np.array([6 * NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)], np.float32)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A desaturated, randomly tinted low-frequency texture (float32 RGB), different for every clip."""
    base = rng.uniform(70, 185)
    tint = rng.uniform(-18, 18, size=3)
    cells = rng.normal(0, 28, size=(rng.integers(3, 7), rng.integers(3, 7), 1))
    # Grey blotches (one channel, so the texture never looks like one of the shape colours).
    blotches = cv2.resize(cells.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    stripes = 10 * np.sin(np.arange(width) / rng.uniform(3, 9) + rng.uniform(0, 6.3)).astype(np.float32)
    img = base + tint[None, None, :] + blotches[:, :, None] + stripes[None, :, None]
    return img.astype(np.float32)


def _draw(frame: np.ndarray, shape: str, cx: float, cy: float, r: float, colour: tuple[int, ...]) -> None:
    """Draw a filled, anti-aliased shape of radius/half-side ``r`` centred at (cx, cy), in place."""
    col = tuple(int(c) for c in colour)
    if shape == "circle":
        cv2.circle(frame, (round(cx), round(cy)), round(r), col, -1, cv2.LINE_AA)
    elif shape == "square":
        cv2.rectangle(frame, (round(cx - r), round(cy - r)), (round(cx + r), round(cy + r)), col, -1,
                      cv2.LINE_AA)
    elif shape == "triangle":  # pointing up, about as large as the square
        pts = np.array([[cx, cy - 1.15 * r], [cx - 1.15 * r, cy + 0.85 * r], [cx + 1.15 * r, cy + 0.85 * r]])
        cv2.fillPoly(frame, [np.round(pts).astype(np.int32)], col, cv2.LINE_AA)
    elif shape == "ring":
        cv2.circle(frame, (round(cx), round(cy)), round(r * 0.8), col, max(2, round(r * 0.4)), cv2.LINE_AA)
    elif shape == "bar":
        cv2.rectangle(frame, (round(cx - 1.4 * r), round(cy - 0.45 * r)), (round(cx + 1.4 * r), round(cy + 0.45 * r)),
                      col, -1, cv2.LINE_AA)
    elif shape == "cross":
        w = 0.35 * r
        cv2.rectangle(frame, (round(cx - r), round(cy - w)), (round(cx + r), round(cy + w)), col, -1, cv2.LINE_AA)
        cv2.rectangle(frame, (round(cx - w), round(cy - r)), (round(cx + w), round(cy + r)), col, -1, cv2.LINE_AA)
    else:
        raise UsageError(f"unknown shape {shape!r}; choose one of: {', '.join(SHAPES)}")


def render(rng: np.random.Generator, colour: str, shape: str, motion: str, width: int, height: int,
           n_frames: int) -> np.ndarray:
    """Frames (N, H, W, 3) uint8 RGB of one clip.

    Example:
        >>> render(np.random.default_rng(0), "red", "circle", "left", 160, 120, 20).shape
        (20, 120, 160, 3)
    """
    side = min(width, height)
    r = rng.uniform(0.13, 0.19) * side
    rgb = np.clip(np.array(COLOURS[colour]) + rng.integers(-15, 16, size=3), 0, 255)
    # Travel along the motion axis over 40–60% of the frame; the other coordinate stays put.
    horizontal = motion in ("left", "right")
    extent = width if horizontal else height
    travel = rng.uniform(0.4, 0.6) * extent
    lo = r + 2 + rng.uniform(0, max(0.0, extent - 2 * r - 4 - travel))
    start, end = (lo + travel, lo) if motion in ("left", "up") else (lo, lo + travel)
    other = rng.uniform(r + 2, (height if horizontal else width) - r - 2)
    bg = _background(rng, width, height)
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    noisy = np.empty_like(bg)
    for i in range(n_frames):
        pos = start + (end - start) * i / max(1, n_frames - 1)
        # Sensor noise, fresh per frame: random bytes through the normal quantile table, a quarter of
        # the cost of standard_normal, which was two thirds of the demo's clip generation.
        np.take(_NOISE, np.frombuffer(rng.bytes(bg.size), np.uint8).reshape(bg.shape), out=noisy)
        frame = np.clip(np.add(noisy, bg, out=noisy), 0, 255, out=noisy).astype(np.uint8)
        cx, cy = (pos, other) if horizontal else (other, pos)
        _draw(frame, shape, cx, cy, r, rgb)
        frames[i] = frame
    return frames


def write_video(path: Path, frames: np.ndarray, fps: float, fourcc: str) -> None:
    """Write RGB frames with OpenCV; InputError if the codec/container cannot be opened here."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
    if not writer.isOpened():
        raise InputError(f"{path}: OpenCV cannot write {fourcc} video here")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def captions_for(rng: np.random.Generator, colour: str, shape: str, motion: str, n: int) -> list[str]:
    """``n`` distinct paraphrases naming the colour, shape and motion.

    Example:
        >>> captions_for(np.random.default_rng(0), "red", "circle", "left", 2)  # doctest: +SKIP
        ['a red ball goes left', 'the red circle moves to the left']
    """
    options = [t.format(colour=colour, shape=s, motion=m)
               for t in TEMPLATES for s in SHAPE_WORDS[shape] for m in MOTION_PHRASES[motion]]
    if n > len(options):
        raise UsageError(f"captions_per_video={n}: at most {len(options)} distinct paraphrases exist")
    return [options[i] for i in rng.choice(len(options), size=n, replace=False)]


def _video_id(index: int) -> str:
    return f"synth{index:04d}"


def _write_clip(task: tuple[int, int, str, str, str, Path, int, tuple[float, float]]) -> dict[str, Any]:
    """Render and write clip ``index``; its random stream is a function of (seed, index) alone."""
    seed, index, colour, shape, motion, video_dir, captions_per_video, duration = task
    rng = np.random.default_rng((seed, index))
    ext, fourcc = CONTAINERS[index % len(CONTAINERS)]
    width, height = SIZES[rng.integers(len(SIZES))]
    fps = FPS[rng.integers(len(FPS))]
    n_frames = max(2, round(fps * rng.uniform(*duration)))
    path = video_dir / f"{_video_id(index)}{ext}"
    write_video(path, render(rng, colour, shape, motion, width, height, n_frames), fps, fourcc)
    return {"captions": captions_for(rng, colour, shape, motion, captions_per_video),
            "attributes": {"colour": colour, "shape": shape, "motion": motion, "file": path.name,
                           "width": width, "height": height, "fps": fps, "frames": n_frames, "fourcc": fourcc}}


def generate(out_dir: str | os.PathLike[str], *, n_videos: int = 240, seed: int = 0,
             fractions: tuple[float, float, float] = (0.7, 0.1, 0.2), captions_per_video: int = 5,
             duration: tuple[float, float] = (1.6, 2.4), workers: int = 0) -> SyntheticDataset:
    """Write ``n_videos`` clips + ``annotations.json`` + ``attributes.json`` under ``out_dir``.

    Colour × shape × motion combinations are used in turn (every combination appears before any
    repeats) and shuffled, then the clips are split train/validate/test by ``fractions``. The same
    ``seed`` gives the same clips, captions and splits, whatever ``workers`` is: each clip draws from
    its own random stream, seeded by (``seed``, clip index). ``workers`` > 0 writes clips in that many
    processes (rendering is CPU-bound numpy, so threads would not help).

    Example:
        >>> ds = generate("synth/", n_videos=12, seed=1)                 # doctest: +SKIP
        >>> sorted({a["split"] for a in ds.attributes.values()})          # doctest: +SKIP
        ['test', 'train', 'validate']
    """
    if n_videos < 3:
        raise UsageError(f"n_videos={n_videos}: need at least 3 (one per split)")
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise UsageError(f"fractions={fractions}: three non-negative train/validate/test shares summing to 1")
    most = len(TEMPLATES) * min(map(len, SHAPE_WORDS.values())) * min(map(len, MOTION_PHRASES.values()))
    if not 1 <= captions_per_video <= most:
        raise UsageError(f"captions_per_video={captions_per_video}: between 1 and {most} (the distinct "
                         "paraphrases of the combination that has fewest)")
    if workers < 0:
        raise UsageError(f"workers={workers}: 0 (write in this process) or a positive number of processes")
    root = Path(out_dir)
    video_dir = root / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    combos = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]
    order: list[tuple[str, str, str]] = []
    while len(order) < n_videos:  # whole rounds of all combinations, each round shuffled
        order += [combos[i] for i in rng.permutation(len(combos))]
    counts = _split_counts(n_videos, fractions)
    splits = [s for s, k in zip(SPLITS, counts) for _ in range(k)]
    splits = [splits[i] for i in rng.permutation(n_videos)]

    tasks = [(seed, i, *order[i], video_dir, captions_per_video, duration) for i in range(n_videos)]
    if workers:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            clips = list(pool.map(_write_clip, tasks, chunksize=max(1, n_videos // (8 * workers))))
    else:
        clips = [_write_clip(task) for task in tasks]

    videos, sentences, attributes = [], [], {}
    for i, (clip, split) in enumerate(zip(clips, splits)):
        video_id = _video_id(i)
        videos.append({"video_id": video_id, "split": split, "category": CATEGORY, "id": i})
        for caption in clip["captions"]:
            sentences.append({"video_id": video_id, "caption": caption, "sen_id": len(sentences)})
        attributes[video_id] = {**clip["attributes"], "split": split}
    annotations = root / "annotations.json"
    info = {"description": f"vidcap synthetic clips (seed {seed})", "version": "1"}
    write_json(annotations, {"info": info, "videos": videos, "sentences": sentences})
    attributes_file = write_json(root / "attributes.json", attributes)  # last: it marks a finished folder
    return SyntheticDataset(root, video_dir, annotations, attributes_file, attributes)


def load_attributes(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read an ``attributes.json`` written by :func:`generate`; InputError naming the file otherwise."""
    data = read_json(path, "synthetic attributes")
    if not isinstance(data, dict) or not all(isinstance(a, dict) and set(ATTRIBUTES) <= set(a)
                                             for a in data.values()):
        raise InputError(f"{path}: not an attributes.json written by vidcap.demo.synthetic.generate")
    return data


def _lexicon() -> dict[str, dict[str, str]]:
    """attribute → word → value, e.g. ``{"shape": {"ball": "circle", ...}, ...}``."""
    return {"colour": {c: c for c in COLOURS},
            "shape": {w: s for s, words in SHAPE_WORDS.items() for w in words},
            "motion": {w: m for m, words in MOTION_WORDS.items() for w in words}}


def caption_attributes(caption: str) -> dict[str, set[str]]:
    """The attribute values a caption names (a set per attribute: empty, one, or several values)."""
    words = re.findall(r"[a-z]+", caption.lower())
    return {attr: {table[w] for w in words if w in table} for attr, table in _lexicon().items()}


def attribute_accuracy(results: Iterable[Mapping[str, str]],
                       attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Share of captioned clips naming the true colour / shape / motion, and all three at once.

    An attribute counts as right when the caption names the true value and no other value of that
    attribute ("a red green circle" is wrong on colour; a caption without a motion word is wrong on
    motion). ``all`` is the share of clips right on every attribute. ``results`` are COCO results
    (``{"video_id", "caption"}``); ids missing from ``attributes`` raise InputError.

    Example:
        >>> attribute_accuracy([{"video_id": "a", "caption": "a red ball rises"}],
        ...                    {"a": {"colour": "red", "shape": "circle", "motion": "down"}})
        {'all': 0.0, 'colour': 1.0, 'shape': 1.0, 'motion': 0.0, 'n': 1}
    """
    hits = {a: 0 for a in ("all", *ATTRIBUTES)}
    n = 0
    for item in results:
        vid = str(item["video_id"])
        if vid not in attributes:
            raise InputError(f"video {vid!r}: not a synthetic clip with known attributes")
        named = caption_attributes(item["caption"])
        right = {a: named[a] == {attributes[vid][a]} for a in ATTRIBUTES}
        for a in ATTRIBUTES:
            hits[a] += right[a]
        hits["all"] += all(right.values())
        n += 1
    if n == 0:
        raise UsageError("attribute_accuracy: no captions given")
    return {**{a: hits[a] / n for a in hits}, "n": n}
