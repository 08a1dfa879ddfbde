"""Building a run's data and model from a config (or, resuming or starting from a checkpoint, from its TrainedModel).

The vocabulary and the feature normaliser are fitted on the training split once, then live in every
checkpoint: a resumed run, a self-critical run started from a cross-entropy checkpoint (``train.init``)
and the captioner all reuse the stored ones, so token ids and input statistics never drift.

Example:
    >>> cfg = load_config("configs/demo.yaml", ["data.features=feats/", "data.annotations=ann.json"])  # doctest: +SKIP
    >>> data = build_data(cfg)                                                                       # doctest: +SKIP
    >>> model = build_model(cfg, vocab_size=len(data.vocab), input_dims=data.input_dims)              # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from omegaconf import DictConfig

from vidcap.data import (Annotations, CaptionDataset, EvalDataset, FeatureNormalizer, Vocabulary,
                         build_vocabulary)
from vidcap.errors import InputError, UsageError, keyed_error
from vidcap.features.spec import FeatureSpec
from vidcap.models import CaptionModel, get_model, model_options
from vidcap.trained.model import EvalSettings, TrainedModel

__all__ = ["RunData", "build_data", "build_model", "check_aligned", "model_kwargs"]


@dataclass
class RunData:
    """Everything a run reads: annotations, vocabulary, normaliser, the datasets, store metadata.

    ``val`` serves each validation video once (for decoding); ``val_pairs`` its (video, reference) pairs,
    encoded as for training (for the validation loss).
    """

    annotations: Annotations
    vocab: Vocabulary
    normalizer: FeatureNormalizer | None
    train: CaptionDataset
    val: EvalDataset
    val_pairs: CaptionDataset
    store_metas: list[dict[str, Any]]

    @property
    def input_dims(self) -> dict[str, int | tuple[int, ...]]:
        return self.train.input_dims

    def trained_model(self, model: CaptionModel, *, frames: int | None, eval: EvalSettings,
                      record: dict[str, Any], source: str) -> TrainedModel:
        """``model`` trained on this data, as checkpoints keep it: with this vocabulary, normaliser, the
        stores' metadata and the streams in the order the datasets read them."""
        return TrainedModel(model=model, vocab=self.vocab, normalizer=self.normalizer, stores=self.store_metas,
                            streams=[s.name for s in self.train.streams], frames=frames, eval=eval,
                            record=record, source=source)


def _identity_normalizer(dims: Mapping[str, int | tuple[int, ...]], deltas: bool,
                         delta_streams: list[str]) -> FeatureNormalizer:
    """Mean 0 / std 1: no standardisation, but temporal differences when asked for."""
    size = {k: (v if isinstance(v, int) else v[-1]) for k, v in dims.items()}
    return FeatureNormalizer({k: np.zeros(d) for k, d in size.items()}, {k: np.ones(d) for k, d in size.items()},
                             deltas=deltas, delta_streams=delta_streams)


def build_data(cfg: DictConfig, *, trained: TrainedModel | None = None) -> RunData:
    """Load annotations and stores named in ``cfg.data``; fit (or, from ``trained``, the model a run
    resumes or starts from, restore) the vocabulary and normaliser. With ``trained`` the stores must hold
    features made exactly as those it was trained on (:meth:`TrainedModel.check_stores`)."""
    d = cfg.data
    if not d.annotations:
        raise InputError("data.annotations is empty: name the MSR-VTT-schema annotation file(s)")
    if not d.features:
        raise InputError("data.features is empty: name the feature store(s) made by `vidcap extract`")
    ann = Annotations.load(*d.annotations)
    if trained is not None:
        vocab, normalizer = trained.vocab, trained.normalizer
    else:
        vocab = build_vocabulary(ann, split=d.train_split, min_count=d.min_count, max_size=d.max_vocab)
        normalizer = None
    common = dict(streams=list(d.streams), frames=d.frames, allow_missing=d.allow_missing,
                  cache_bytes=d.cache_mb * 2**20)
    try:
        train = CaptionDataset(list(d.features), ann, vocab, split=d.train_split, max_len=d.max_len, **common)
    except UsageError as err:  # the datasets speak of their own arguments; the config names the key
        raise keyed_error(err, "data", dict(d)) from None
    if d.whiten and not d.normalize:
        raise UsageError(f"data.whiten={d.whiten} needs data.normalize: true (whitening standardises first)")
    if trained is None and (d.normalize or d.deltas):
        if d.normalize:
            normalizer = FeatureNormalizer.fit(train.features(), deltas=d.deltas, delta_streams=list(d.delta_streams),
                                               whiten=d.whiten, whiten_streams=list(d.whiten_streams))
        else:
            normalizer = _identity_normalizer(train.input_dims, d.deltas, list(d.delta_streams))
    train.normalizer = normalizer
    val = EvalDataset(list(d.features), ann, split=d.val_split, normalizer=normalizer, **common)
    val_pairs = CaptionDataset(list(d.features), ann, vocab, ids=val.video_ids, max_len=d.max_len,
                               normalizer=normalizer, **common)
    check_aligned(d.features, train.store_metas)
    if trained is not None:
        trained.check_stores(d.features, train.store_metas)
    return RunData(ann, vocab, normalizer, train, val, val_pairs, train.store_metas)


def check_aligned(paths: Sequence[Any], metas: Sequence[Mapping[str, Any]]) -> None:
    """InputError unless stores combined in one model sampled the same frames: the models read their
    frame streams side by side, time step by time step.

    Example:
        >>> check_aligned(["resnet/", "yolo/"], [FeatureStore("resnet/").meta,
        ...                                      FeatureStore("yolo/").meta])           # doctest: +SKIP
    """
    specs = [FeatureSpec.from_dict(m.get("spec"), source=f"feature store {p}") for p, m in zip(paths, metas)]
    for path, spec in zip(paths[1:], specs[1:]):
        diff = [d for d in spec.differences(specs[0]) if d.startswith("sampling.")]
        if diff:
            raise InputError(f"feature stores {path} and {paths[0]} sampled other frames ({'; '.join(diff)}); "
                             "a model reads its streams frame by frame: extract both with the same --frames/--fps")


def model_kwargs(name: str, model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The options model ``name`` takes, from the ``model`` section (config keys are the constructor's
    parameter names). The section's other keys are other models' options at their defaults:
    :func:`~vidcap.config.loading.load_config` refuses a config that sets one of them.

    Example:
        >>> from vidcap.config.loading import load_config
        >>> model_kwargs("mp-lstm", load_config(None, ["model.name=mp-lstm"]).model)
        {'embed_size': 300, 'hidden_size': 512, 'layers': 1, 'dropout': 0.5, 'cell': 'lstm', 'embed_activation': 'none'}
    """
    options = model_options(name)
    missing = [option for option in options if option not in model_cfg]
    if missing:  # a model option the schema lacks would silently keep the constructor's default
        raise UsageError(f"model {name} takes {', '.join(missing)}, which the config schema has no key for "
                         f"(a model registered after vidcap.config.schema was imported?)")
    return {option: model_cfg[option] for option in options}


# The most parameters a configured model may have: LSTM captioners have tens of millions.
MAX_PARAMETERS = 1 << 30


def build_model(cfg: DictConfig, *, vocab_size: int, input_dims: Mapping[str, Any]) -> CaptionModel:
    """The caption model ``cfg.model`` describes, for this vocabulary and these inputs; an option the
    model refuses is reported with its config key (``model.hidden_size=0: hidden_size must be ...``)."""
    kwargs = model_kwargs(cfg.model.name, cfg.model)
    try:
        # Sizes first, on the meta device (no memory): a config, or a store's dims, may ask for a model
        # no machine holds, and allocating it would fail deep in torch or wake the OOM killer.
        with torch.device("meta"):
            sized = get_model(cfg.model.name, vocab_size=vocab_size, input_dims=dict(input_dims), **kwargs)
        count = sum(p.numel() for p in sized.parameters())
        if count <= MAX_PARAMETERS:
            return get_model(cfg.model.name, vocab_size=vocab_size, input_dims=dict(input_dims), **kwargs)
    except UsageError as err:
        raise keyed_error(err, "model", {"name": cfg.model.name, **kwargs}) from None
    sizes = ", ".join(f"model.{k}={v}" for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool))
    raise UsageError(f"model {cfg.model.name} with {sizes}, {vocab_size} words and inputs {dict(input_dims)} would "
                     f"have {count:,} parameters ({count * 4 / 2**30:.1f} GiB as float32, about four times that "
                     f"while training); vidcap builds at most {MAX_PARAMETERS:,}. Lower these sizes, or check "
                     "the feature stores' dims")
