"""Caption video files with a trained checkpoint: decode → backbone features → decoder → sentence.

A checkpoint keeps the feature spec of every store it was trained on (vidcap.features.spec: backbone,
weights identity, options, preprocessing, frame sampling, stored dtype). The captioner rebuilds each
backbone from its spec — its weights from their identity, or from a file the user gives with
``weights=``, never from a file or URL the model names (docs/security.md) —, checks that the rebuilt one
has that very spec, and turns a raw file into model inputs through the function
extraction uses (:func:`vidcap.features.extract.video_entry`), so a raw file's caption equals the one
computed from a store made by ``vidcap extract``. Feature stores given to :meth:`Captioner.caption_split`
must match the checkpoint's specs too. Long videos can be captioned per window (``segment`` seconds).

Example:
    >>> captioner = Captioner.from_checkpoint("runs/sa_lstm/best.pt")        # doctest: +SKIP
    >>> captioner.caption(["clip.mp4"])                                     # doctest: +SKIP
    ['a man is playing a guitar']

Decoding settings (beam size, length penalty, longest caption, ...) are the model's
:class:`~vidcap.trained.model.EvalSettings`, the ones its validation used, unless a call overrides the
beam size (:meth:`Captioner.decoding`), for ``vidcap caption``, ``eval``, ``serve``, this API and the
reproduction alike. What a model is, and how it is loaded and saved, is
:class:`~vidcap.trained.model.TrainedModel`; a Captioner adds backbones and a device.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vidcap.data import Annotations, EvalDataset, collate, frame_indices, select
from vidcap.device import resolve_device
from vidcap.errors import InputError, UsageError
from vidcap.features import FeatureStore
from vidcap.features.backbone import Backbone, rebuild_backbone
from vidcap.features.extract import decode, video_entry
from vidcap.features.sources import collect_sources
from vidcap.features.spec import FeatureSpec
from vidcap.inference.attention import WordAttention, frame_attention
from vidcap.inference.generate import generate_captions
from vidcap.progress import bar as progress_bar
from vidcap.trained.hub import is_hub_id
from vidcap.trained.model import TrainedModel
from vidcap.video import Clip, Sampling, probe, windows
from vidcap.video.scenes import SEGMENTERS

__all__ = ["Captioner", "Described"]

PathLike = str | os.PathLike[str]
Spans = list[tuple[float, float]]


@dataclass
class Described:
    """A video's caption, its per-window ``(start, end, caption)`` (one window covering it all without
    ``segment``), the sampled frames of the whole video (for previews) and, when asked for, what each
    word of the caption attended to."""

    caption: str
    segments: list[tuple[float, float, str]]
    clip: Clip
    attention: WordAttention | None = None


class Captioner:
    """A trained model (:class:`~vidcap.trained.model.TrainedModel`) with what is needed to caption raw
    video files: its backbones, rebuilt on demand, and a device.

    ``weights`` maps a backbone name to the weights file (or release name) the user trusts, for backbones
    whose weights came from a file; the file must have the identity the model records (checked from its
    bytes before it is loaded). Checkpoints and folders are read as untrusted files (docs/security.md).

    Example:
        >>> Captioner(TrainedModel.load("models/sa"), device="cpu").caption(["clip.mp4"])   # doctest: +SKIP
        ['a man is playing a guitar']
    """

    def __init__(self, trained: TrainedModel, *, device: str | torch.device | None = None,
                 weights: str | Mapping[str, str] | None = None):
        self.trained = trained
        self.device = resolve_device(device)
        self.model = trained.model.to(self.device).eval()
        self.vocab, self.normalizer = trained.vocab, trained.normalizer
        self.stores, self.frames, self.specs, self.streams = trained.stores, trained.frames, trained.specs, trained.inputs
        self.source = trained.source
        self.weights_override = _weights_by_backbone(weights, self.specs, self.source)
        self._backbones: dict[int, Backbone] = {}

    @classmethod
    def from_checkpoint(cls, path: PathLike, device: str | torch.device | None = None, *,
                        weights: str | Mapping[str, str] | None = None) -> "Captioner":
        """Load a checkpoint written by ``vidcap train`` (``best.pt`` or ``last.pt``). Model folders and
        Hub models are loaded by :meth:`from_pretrained`, which takes checkpoints too.

        ``weights``: a file (or release name) for the checkpoint's one backbone, or ``{backbone: weights}``
        for several, used instead of the recorded ones; they must be the same weights.

        Example:
            >>> Captioner.from_checkpoint("best.pt", device="cpu", weights="resnet152.pth")   # doctest: +SKIP
            >>> Captioner.from_checkpoint("best.pt", weights={"resnet152": "r152.pth",
            ...                                               "yolov8x": "yolov8x.pt"})       # doctest: +SKIP
        """
        if is_hub_id(path) or Path(path).is_dir():
            raise UsageError(f"{path}: a model folder or Hub model, not a checkpoint; load it with "
                             "Captioner.from_pretrained")
        return cls(TrainedModel.from_checkpoint(path), device=device, weights=weights)

    @classmethod
    def from_pretrained(cls, source: PathLike, *, revision: str | None = None,
                        device: str | torch.device | None = None, cache_dir: PathLike | None = None,
                        weights: str | Mapping[str, str] | None = None) -> "Captioner":
        """Load a model as Hugging Face libraries do: ``source`` is a training checkpoint, a model folder
        (``vidcap export`` or :meth:`save_pretrained`), a Hub model ``"org/name"`` or ``"hf:org/name[@rev]"``
        (the command line's form). Hub models come through the Hugging Face cache (``HF_HUB_OFFLINE=1``: the
        cache only); ``revision`` picks a branch, tag or commit hash (``@rev`` in ``source`` does the same;
        both, differing, is a UsageError). A plain ``"org/name"`` that is also an existing local path is
        that local path, as in ``transformers`` (:meth:`TrainedModel.load` decides).

        Example:
            >>> Captioner.from_pretrained("vidcap/sa-lstm-msrvtt", revision="v1.0").caption(["clip.mp4"])  # doctest: +SKIP
            >>> Captioner.from_pretrained("models/sa-lstm", device="cpu")                             # doctest: +SKIP
        """
        return cls(TrainedModel.load(source, revision=revision, cache_dir=cache_dir), device=device, weights=weights)

    def save_pretrained(self, folder: PathLike, *, scores: Mapping[str, Any] | None = None) -> Path:
        """Write this model as a model folder (``model.safetensors`` + ``config.json`` + ``README.md``), the
        format ``vidcap export`` writes and :meth:`from_pretrained` reads; ``scores`` (``vidcap eval --json``)
        go into the model card. What the model card cannot know (how a model was trained when the
        checkpoint or folder it came from did not say) it says is unknown.

        Example:
            >>> Captioner.from_checkpoint("runs/sa/best.pt").save_pretrained("models/sa")   # doctest: +SKIP
            PosixPath('models/sa')
        """
        return self.trained.save_folder(folder, scores=scores)

    # ------------------------------------------------------------------------------- features
    def backbone(self, store: int) -> Backbone:
        """The backbone of store ``store``, rebuilt from its spec's weights *identity* and checked against
        the spec (once). Weights come from names or from the user's ``weights=``, never from a file the
        model names (:func:`vidcap.features.backbone.rebuild_backbone`; docs/security.md)."""
        if store not in self._backbones:
            spec = self.specs[store]
            self._backbones[store] = rebuild_backbone(
                spec, source=self.source, key=f"stores[{store}].spec", device=self.device,
                file=self.weights_override.get(spec.backbone))
        return self._backbones[store]

    # -------------------------------------------------------------------------------- public
    def inputs(self, path: PathLike, start: float | None = None,
                end: float | None = None) -> tuple[dict[str, Any], Clip]:
        """Model inputs of one file (optionally of the window [start, end) s), as a feature store's entry would
        give them, and the first store's decoded clip.

        Example:
            >>> item, clip = Captioner.from_checkpoint("best.pt").inputs("clip.mp4")   # doctest: +SKIP
            >>> sorted(item), len(clip.frames)                                         # doctest: +SKIP
            (['feats', 'id', 'masks'], 8)
        """
        used = sorted({s.store for s in self.streams})
        entries: list[dict[str, np.ndarray]] = [{} for _ in self.stores]
        clips: dict[str, Clip] = {}
        for i in used:
            sampling = dataclasses.replace(Sampling.from_dict(self.specs[i].sampling), start=start, end=end)
            windows = self.backbone(i).windows  # clip backbones also read frame windows
            key = repr((sampling, windows))
            if key not in clips:  # stores sampled alike share one decode
                clips[key] = decode(path, sampling, windows)
            entries[i] = video_entry(self.backbone(i), clips[key])
        feats, masks = select(self.streams, entries, frames=self.frames, source=str(path))
        if self.normalizer is not None:
            feats = self.normalizer(feats, masks)
        return {"id": str(path), "feats": feats, "masks": masks}, next(iter(clips.values()))

    def decoding(self, beam_size: int | None = None) -> dict[str, Any]:
        """The decoding settings a caption is made with: the model's eval settings
        (:class:`~vidcap.trained.model.EvalSettings`), with ``beam_size`` overriding its beam size when given.

        Example:
            >>> Captioner.from_checkpoint("best.pt").decoding()["beam_size"]   # doctest: +SKIP
            3
        """
        return self.trained.eval.decoding(beam_size)

    def decode(self, items: Sequence[dict[str, Any]], beam_size: int | None,
                progress: bool | None = False) -> dict[str, str]:
        """id → caption of ``items`` (each as :meth:`inputs` gives it), batched exactly as for a feature store
        (vidcap.inference.generate); ``progress`` draws a bar over the batches (None: on a terminal).

        Example:
            >>> captioner = Captioner.from_checkpoint("best.pt")                 # doctest: +SKIP
            >>> captioner.decode([captioner.inputs("clip.mp4")[0]], beam_size=1)  # doctest: +SKIP
            {'clip.mp4': 'a man is cooking'}
        """
        return generate_captions(self.model, items, self.vocab, **self.decoding(beam_size), device=self.device,
                                 progress=progress)

    def caption(self, videos: Sequence[PathLike], beam_size: int | None = None) -> list[str]:
        """One caption per video file, in order (``beam_size``: default the checkpoint's
        ``eval.beam_size``). Raises VideoError for an unreadable file.

        Example:
            >>> Captioner.from_checkpoint("best.pt").caption(["a.mp4", "b.mkv"])   # doctest: +SKIP
            ['a man is cooking', 'a car drives down a road']
        """
        items = [{**self.inputs(v)[0], "id": str(i)} for i, v in enumerate(videos)]
        captions = self.decode(items, beam_size)
        return [captions[str(i)] for i in range(len(items))]

    def describe(self, path: PathLike, *, beam_size: int | None = None,
                 segment: float | str | Callable[[PathLike], Spans] | None = None, attention: bool = False,
                 progress: Callable[[float, str], object] | None = None) -> Described:
        """Caption of the whole file plus, with ``segment``, one caption per segment (see :meth:`spans`).

        ``attention=True`` adds what each word of the whole-video caption attended to (attention
        decoders only, else UsageError). ``progress(fraction, message)`` is told how far it got.

        Example:
            >>> d = Captioner.from_checkpoint("best.pt").describe("long.mp4", segment=10)   # doctest: +SKIP
            >>> d.segments[0]                                                               # doctest: +SKIP
            (0.0, 10.0, 'a man is talking')
            >>> Captioner.from_checkpoint("best.pt").describe("film.mp4", segment="scenes")  # doctest: +SKIP
        """
        tell = progress or (lambda fraction, message: None)
        tell(0.0, "decoding frames and computing features")
        whole, clip = self.inputs(path)
        tell(0.3 if segment is not None else 0.8, "captioning")
        caption = self.decode([whole], beam_size)[whole["id"]]
        words = self._word_attention(whole, caption, clip) if attention else None
        if segment is None:
            tell(1.0, "done")
            return Described(caption, [(0.0, clip.info.duration, caption)], clip, words)
        tell(0.35, "finding segments")
        spans = self.spans(path, segment)
        items = []
        for i, (start, end) in enumerate(spans):
            tell(0.4 + 0.5 * i / len(spans), f"segment {i + 1} of {len(spans)}: features")
            items.append({**self.inputs(path, start, end)[0], "id": str(i)})
        tell(0.9, f"captioning {len(spans)} segments")
        texts = self.decode(items, beam_size)
        tell(1.0, "done")
        return Described(caption, [(s, e, texts[str(i)]) for i, (s, e) in enumerate(spans)], clip, words)

    @staticmethod
    def spans(path: PathLike, segment: float | str | Callable[[PathLike], Spans]) -> Spans:
        """The ``[start, end)`` segments of ``path``: consecutive windows of ``segment`` seconds, shots
        (``"scenes"``: :class:`~vidcap.video.scenes.SceneCuts` with its defaults), or what a segmenter
        (e.g. ``SceneCuts(min_seconds=1, max_seconds=20)``) returns.

        Example:
            >>> Captioner.spans("long.mp4", 10.0)                                           # doctest: +SKIP
            [(0.0, 10.0), (10.0, 20.0), (20.0, 27.4)]
        """
        if callable(segment):
            return segment(path)
        if isinstance(segment, str):
            if segment not in SEGMENTERS:
                raise UsageError(f"segment {segment!r}: give a number of seconds or one of: {', '.join(SEGMENTERS)}")
            return SEGMENTERS[segment]()(path)
        return windows(probe(path).duration, segment)

    def _word_attention(self, item: dict[str, Any], caption: str, clip: Clip) -> WordAttention:
        """What each word of ``caption`` attended to, over the frames the model read: ``clip``'s sampled
        frames, or a subset of them when the model reads fewer (``data.frames``)."""
        batch = collate([item]).to(self.device)
        words = caption.split()
        weights = frame_attention(self.model, batch.feats, batch.masks, self.vocab.encode(words)[1:-1])
        positions = frame_indices(len(clip.frames), self.frames)
        if len(positions) != weights.shape[1]:
            raise UsageError(f"{self.source}: its streams are sampled differently, so its attention does not "
                             "map onto the preview's frames")
        return WordAttention(words, weights, positions)

    def caption_split(self, annotations: Sequence[PathLike], *, split: str = "test",
                      features: PathLike | Sequence[PathLike] | None = None, video_dir: PathLike | None = None,
                      beam_size: int | None = None, allow_missing: bool = False) -> list[dict[str, str]]:
        """COCO results (``[{"video_id", "caption"}]``) for every video of ``split``, from feature
        stores made like the training ones, or from the raw files in ``video_dir``. ``allow_missing``
        skips the videos that have no features (or no file) instead of raising InputError; scoring the
        results then reports how many of the split were scored.

        Example:
            >>> Captioner.from_checkpoint("best.pt").caption_split(["test_videodatainfo.json"],
            ...                                                   features="feats/")   # doctest: +SKIP
        """
        if (features is None) == (video_dir is None):
            raise UsageError("caption_split takes feature stores or a video folder, one of the two")
        ann = Annotations.load(*annotations)
        if features is not None:
            paths = [features] if isinstance(features, (str, os.PathLike)) else list(features)
            self.trained.check_stores(paths, [FeatureStore(p).meta for p in paths])
            dataset = EvalDataset(paths, ann, split=split, streams=[s.name for s in self.streams],
                                  frames=self.frames, normalizer=self.normalizer, allow_missing=allow_missing)
            items: Sequence[dict[str, Any]] = dataset
            ids = dataset.video_ids
        else:
            sources = collect_sources(video_dir=video_dir, annotations=[Path(a) for a in annotations], split=split)
            problems = [f"{s.video_id}: {s.problem}" for s in sources
                        if s.problem and not (allow_missing and s.missing)]
            if problems:
                raise InputError(f"{len(problems)} videos of split {split!r} cannot be captioned: "
                                 + "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))
            path = {s.video_id: s.path for s in sources if not s.problem}
            ids = [v for v in ann.ids(split) if v in path]  # the order a store-based run uses
            items = [{**self.inputs(path[v])[0], "id": v}
                     for v in progress_bar(ids, desc="features", unit="video", leave=False)]
        captions = self.decode(items, beam_size, progress=None)
        return [{"video_id": vid, "caption": captions[vid]} for vid in ids]


def _weights_by_backbone(weights: str | Mapping[str, str] | None, specs: Sequence[FeatureSpec],
                         source: str) -> dict[str, str]:
    """``weights`` as ``{backbone: weights}``; one plain value needs a model with one backbone."""
    names = [s.backbone for s in specs]
    if weights is None:
        return {}
    if isinstance(weights, str):
        if len(names) != 1:
            raise UsageError(f"{source} uses {len(names)} backbones ({', '.join(names)}): name the one the "
                             f"weights are for, e.g. --weights {names[0]}={weights}")
        return {names[0]: weights}
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise UsageError(f"weights for {', '.join(unknown)}: {source} uses no such backbone "
                         f"(its backbones: {', '.join(names)})")
    return dict(weights)
