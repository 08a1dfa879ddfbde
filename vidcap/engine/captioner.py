"""Caption video files with a trained checkpoint: decode → backbone features → decoder → sentence.

A checkpoint names the feature stores it was trained on, and each store's ``meta.json`` (kept in the
checkpoint) names its backbone, weights, options and frame sampling; the captioner rebuilds those
backbones and samples a raw file exactly as extraction did, applies the stored feature normaliser and
decodes with beam search. Long videos can be captioned per window (``segment`` seconds) for subtitles.

Example:
    >>> captioner = Captioner.from_checkpoint("runs/sa_lstm/best.pt")        # doctest: +SKIP
    >>> captioner.caption(["clip.mp4"], beam_size=5)                        # doctest: +SKIP
    ['a man is playing a guitar']
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidcap.data import Annotations, EvalDataset, FeatureNormalizer, Vocabulary, collate, resolve_streams, select
from vidcap.device import resolve_device
from vidcap.engine.checkpoint import load_checkpoint
from vidcap.engine.generate import generate_captions
from vidcap.errors import InputError
from vidcap.features.backbone import Backbone, backbone_options, get_backbone
from vidcap.features.extract import MAX_DECODE_SIDE
from vidcap.features.sources import collect_sources
from vidcap.models import CaptionModel, beam_search, get_model
from vidcap.video import Clip, Sampling, probe, read_clip, windows

__all__ = ["Captioner", "Described"]

PathLike = str | os.PathLike[str]


@dataclass
class Described:
    """A video's caption, its per-window ``(start, end, caption)`` (one window covering it all without
    ``segment``) and the sampled frames of the whole video (for previews)."""

    caption: str
    segments: list[tuple[float, float, str]]
    clip: Clip


def _backbone_options(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The builder options recorded in a store's ``backbone_meta`` (input size, grid, top_k, dtype, seed …)."""
    return {k: meta[k] for k in backbone_options(name) if k in meta}


class Captioner:
    """A trained captioning model with everything needed to caption raw video files."""

    def __init__(self, *, model: CaptionModel, vocab: Vocabulary, normalizer: FeatureNormalizer | None,
                 stores: list[dict[str, Any]], streams: Sequence[str], frames: int | None,
                 eval_cfg: dict[str, Any], device: torch.device, weights: str | None = None, source: str = ""):
        self.model, self.vocab, self.normalizer = model.eval(), vocab, normalizer
        self.stores, self.frames, self.eval_cfg = stores, frames, eval_cfg
        self.streams = resolve_streams(stores, list(streams))
        self.device, self.weights_override, self.source = device, weights, source
        self._backbones: dict[int, Backbone] = {}

    @classmethod
    def from_checkpoint(cls, path: PathLike, device: str | torch.device | None = None, *,
                        weights: str | None = None) -> "Captioner":
        """Load a checkpoint written by ``vidcap train`` (``best.pt`` or ``last.pt``).

        ``weights`` replaces the backbone weights the checkpoint names (e.g. a local file offline).

        Example:
            >>> Captioner.from_checkpoint("best.pt", device="cpu", weights="resnet152.pth")   # doctest: +SKIP
        """
        ckpt = load_checkpoint(path)
        dev = resolve_device(device)
        try:
            data, model_part, cfg = ckpt["data"], ckpt["model"], ckpt["config"]
            model = get_model(**model_part["config"])
            model.load_state_dict(model_part["state"])
            norm = data["normalizer"]
            return cls(model=model.to(dev), vocab=Vocabulary.from_state_dict(data["vocab"]),
                       normalizer=None if norm is None else FeatureNormalizer.from_state_dict(norm),
                       stores=list(data["stores"]), streams=data["streams"], frames=cfg["data"]["frames"],
                       eval_cfg=dict(cfg["eval"]), device=dev, weights=weights, source=str(path))
        except (KeyError, TypeError, RuntimeError) as err:
            raise InputError(f"{path}: not a complete vidcap model checkpoint ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''})") from None

    # ------------------------------------------------------------------------------- features
    def backbone(self, store: int) -> Backbone:
        """The backbone of store ``store``, built as the store recorded it (once)."""
        if store not in self._backbones:
            meta = self.stores[store]
            name = meta["backbone"]
            self._backbones[store] = get_backbone(name, weights=self.weights_override or meta["weights"],
                                                  device=self.device,
                                                  **_backbone_options(name, meta.get("backbone_meta", {})))
        return self._backbones[store]

    def _inputs(self, path: PathLike, start: float | None = None,
                end: float | None = None) -> tuple[dict[str, Any], Clip]:
        """Model inputs of one file (optionally of the window [start, end) s) and the first store's clip."""
        used = sorted({s.store for s in self.streams})
        entries: list[dict[str, np.ndarray]] = [{} for _ in self.stores]
        clips: dict[str, Clip] = {}
        first: Clip | None = None
        for i in used:
            sampling = dataclasses.replace(Sampling.from_dict(self.stores[i]["sampling"]), start=start, end=end)
            key = repr(sampling)
            if key not in clips:  # stores sampled alike share one decode
                clips[key] = read_clip(path, sampling, max_side=MAX_DECODE_SIDE)
            clip = clips[key]
            first = first or clip
            entries[i] = self.backbone(i).features(clip.frames)
        feats, masks = select(self.streams, entries, frames=self.frames, source=str(path))
        if self.normalizer is not None:
            feats = self.normalizer(feats, masks)
        assert first is not None
        return {"id": str(path), "feats": feats, "masks": masks}, first

    def _decode(self, items: list[dict[str, Any]], beam_size: int) -> list[str]:
        batch = collate(items).to(self.device)
        ev = self.eval_cfg
        with torch.inference_mode():
            out = beam_search(self.model, batch.feats, batch.masks, beam_size=beam_size, max_len=ev["max_len"],
                              length_penalty=ev["length_penalty"], block_trigrams=ev["block_trigrams"])
        return [self.vocab.decode(t) for t in out.tokens]

    # -------------------------------------------------------------------------------- public
    def caption(self, videos: Sequence[PathLike], beam_size: int = 5) -> list[str]:
        """One caption per video file, in order. Raises VideoError for an unreadable file.

        Example:
            >>> Captioner.from_checkpoint("best.pt").caption(["a.mp4", "b.mkv"])   # doctest: +SKIP
            ['a man is cooking', 'a car drives down a road']
        """
        items = [self._inputs(v)[0] for v in videos]
        size = max(1, int(self.eval_cfg.get("batch_size", 64)))
        return [c for i in range(0, len(items), size) for c in self._decode(items[i:i + size], beam_size)]

    def describe(self, path: PathLike, *, beam_size: int = 5, segment: float | None = None) -> Described:
        """Caption of the whole file plus, with ``segment`` seconds, one caption per consecutive window.

        Example:
            >>> d = Captioner.from_checkpoint("best.pt").describe("long.mp4", segment=10)   # doctest: +SKIP
            >>> d.segments[0]                                                               # doctest: +SKIP
            (0.0, 10.0, 'a man is talking')
        """
        whole, clip = self._inputs(path)
        caption = self._decode([whole], beam_size)[0]
        if segment is None:
            return Described(caption, [(0.0, clip.info.duration, caption)], clip)
        spans = windows(probe(path).duration, segment)
        items = [self._inputs(path, start, end)[0] for start, end in spans]
        texts = self._decode(items, beam_size)
        return Described(caption, [(s, e, t) for (s, e), t in zip(spans, texts)], clip)

    def caption_split(self, annotations: Sequence[PathLike], *, split: str = "test",
                      features: PathLike | Sequence[PathLike] | None = None, video_dir: PathLike | None = None,
                      beam_size: int = 5, allow_missing: bool = False) -> list[dict[str, str]]:
        """COCO results (``[{"video_id", "caption"}]``) for every video of ``split``, from feature
        stores made like the training ones, or from the raw files in ``video_dir``. ``allow_missing``
        skips the videos that have no features (or no file) instead of raising InputError; scoring the
        results then reports how many of the split were scored.

        Example:
            >>> Captioner.from_checkpoint("best.pt").caption_split(["test_videodatainfo.json"],
            ...                                                   features="feats/")   # doctest: +SKIP
        """
        ann = Annotations.load(*annotations)
        if features is not None:
            paths = [features] if isinstance(features, (str, os.PathLike)) else list(features)
            dataset = EvalDataset(paths, ann, split=split, streams=[s.name for s in self.streams],
                                  frames=self.frames, normalizer=self.normalizer, allow_missing=allow_missing)
            ev = self.eval_cfg
            captions = generate_captions(self.model, dataset, self.vocab, beam_size=beam_size,
                                         max_len=ev["max_len"], length_penalty=ev["length_penalty"],
                                         block_trigrams=ev["block_trigrams"], batch_size=ev.get("batch_size", 64),
                                         device=self.device)
            return [{"video_id": vid, "caption": captions[vid]} for vid in dataset.video_ids]
        if video_dir is None:
            raise InputError("caption_split needs features or video_dir")
        sources = collect_sources(video_dir=video_dir, annotations=[Path(a) for a in annotations], split=split)
        problems = [f"{s.video_id}: {s.problem}" for s in sources
                    if s.problem and not (allow_missing and s.missing)]
        if problems:
            raise InputError(f"{len(problems)} videos of split {split!r} cannot be captioned: "
                             + "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))
        sources = [s for s in sources if not s.problem]
        texts = self.caption([s.path for s in sources], beam_size=beam_size)
        return [{"video_id": s.video_id, "caption": t} for s, t in zip(sources, texts)]
