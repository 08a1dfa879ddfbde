"""Captions and training data: annotations, tokenizer, vocabulary, feature normalisation, datasets.

Example:
    >>> from vidcap.data import Annotations, CaptionDataset, build_vocabulary, collate   # doctest: +SKIP
    >>> ann = Annotations.load("train_val_videodatainfo.json", "test_videodatainfo.json")  # doctest: +SKIP
    >>> vocab = build_vocabulary(ann, split="train", min_count=2)                          # doctest: +SKIP
    >>> train = CaptionDataset("feats/resnet152", ann, vocab, split="train")              # doctest: +SKIP
    >>> from vidcap.data import tokenize
    >>> tokenize("A man's playing guitar.")
    ['a', 'man', "'s", 'playing', 'guitar']
"""
from __future__ import annotations

import importlib
from typing import Any

from vidcap.data.annotations import Annotations, VideoRecord
from vidcap.data.streams import Stream, frame_indices, resolve_streams, select
from vidcap.data.tokenize import tokenize
from vidcap.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocabulary

# Names from modules that import torch, loaded on first use: `vidcap score` reads annotations through
# this package and should not pay torch's import time for it.
_LAZY = {"Batch": "batch", "BucketBatchSampler": "dataset", "CaptionDataset": "dataset",
         "EvalDataset": "dataset", "build_vocabulary": "dataset", "collate": "batch",
         "FeatureNormalizer": "normalize"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"vidcap.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'vidcap.data' has no attribute {name!r}")

__all__ = ["Annotations", "BOS", "Batch", "BucketBatchSampler", "CaptionDataset", "EOS", "EvalDataset",
           "FeatureNormalizer", "PAD", "SPECIALS", "Stream", "UNK", "VideoRecord", "Vocabulary",
           "build_vocabulary", "collate", "frame_indices", "resolve_streams", "select", "tokenize"]
