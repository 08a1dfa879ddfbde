"""What a reproduction runs: the paper configs of a dataset, the feature stores they read, the published
numbers they are compared with, and the tiny settings of a smoke run.

A :class:`Dataset` entry is data, not code: ``DATASETS["msrvtt"]`` lists the runs (a paper config on one
feature store, in the order they run; a config whose ``train.init`` names another run's checkpoint runs
after it, seed by seed), the extractions they share, and, through :mod:`vidcap.reproduce.published`, each
published number with its exact source and protocol. Where a reference extracted its features another
way, the same config also runs on a store made its way (``sa_lstm_msrvtt-hobincar``), so the table shows
both: vidcap's standard protocol and the reference's.

Example:
    >>> plan = DATASETS["msrvtt"]
    >>> [run.name for run in plan.runs]
    ['mp_lstm_msrvtt', 's2vt_msrvtt', 'sa_lstm_msrvtt', 'sa_lstm_msrvtt-hobincar', 'sa_lstm_scst_msrvtt']
    >>> plan.runs[4].init_from, plan.extractions["resnet152"].weights
    ('sa_lstm_msrvtt', 'IMAGENET1K_V1')
    >>> plan.extractions["resnet152-hobincar"].sampling
    {'frames': 28, 'stride': 5, 'margin': 8, 'window': 60}
    >>> [p.model for p in PUBLISHED["sa_lstm_msrvtt"]][:2]
    ['SA-LSTM, hobincar, ResNet-152, mean of 5 runs', 'TA (temporal attention), X-modaler, ResNet-152']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidcap.models import model_options
from vidcap.reproduce.published import FEATURES, SPLITS, Published, rows_for

__all__ = ["DATASETS", "DEFAULT_SEEDS", "Dataset", "Extraction", "METRICS", "PUBLISHED", "Published", "Run",
           "smoke_overrides"]

# The four numbers every table reports (pycocoevalcap names), published ×100.
METRICS = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")

# hobincar/SA-LSTM reports the mean of 5 runs (README, 'Performances'); so does the reproduction.
DEFAULT_SEEDS = 5


@dataclass(frozen=True)
class Extraction:
    """One feature store: how ``vidcap extract`` makes it (``sampling``: :class:`vidcap.video.Sampling`
    keys; ``options``: backbone options). Its protocol words are ``FEATURES[<its key>]``."""

    backbone: str
    weights: str
    sampling: dict[str, Any] = field(default_factory=lambda: {"frames": 28})
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """One paper config (``configs/<config>.yaml``), trained on the store of ``features`` (an
    :class:`Extraction` key) and, when ``init_from`` names another run, from that run's ``best.pt`` of the
    same seed. ``name`` (default: the config) names its steps and folders; the same config on another
    store needs its own."""

    config: str
    features: str
    init_from: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.config


@dataclass(frozen=True)
class Dataset:
    extractions: dict[str, Extraction]
    runs: tuple[Run, ...]
    split: str = "test"
    split_sizes: str = ""  # the protocol's split field (vidcap.reproduce.published.SPLITS)


DATASETS: dict[str, Dataset] = {
    "msrvtt": Dataset(
        extractions={
            "resnet152": Extraction("resnet152", "IMAGENET1K_V1", {"frames": 28}),
            # hobincar/SA-LSTM's extraction (vidcap.reproduce.published.FEATURES["resnet152-hobincar"]).
            "resnet152-hobincar": Extraction("resnet152", "IMAGENET1K_V1",
                                             {"frames": 28, "stride": 5, "margin": 8, "window": 60},
                                             {"fit": "short"}),
        },
        runs=(Run("mp_lstm_msrvtt", "resnet152"), Run("s2vt_msrvtt", "resnet152"),
              Run("sa_lstm_msrvtt", "resnet152"),
              Run("sa_lstm_msrvtt", "resnet152-hobincar", label="sa_lstm_msrvtt-hobincar"),
              Run("sa_lstm_scst_msrvtt", "resnet152", init_from="sa_lstm_msrvtt")),
        split_sizes=SPLITS["msrvtt"],
    ),
}
assert all(key in FEATURES for plan in DATASETS.values() for key in plan.extractions)

# Each config's current published rows (vidcap.reproduce.published.ROWS has every row, history included).
PUBLISHED: dict[str, tuple[Published, ...]] = {
    run.config: tuple(rows_for(run.config)) for plan in DATASETS.values() for run in plan.runs}

# --smoke: a backbone that runs in seconds on a CPU (random weights: no download), 4 frames, and models
# small enough that every config trains in seconds. The numbers only show that the pipeline runs. Each
# extraction keeps its kind of sampling at a scale the smoke test's 12-frame clips allow.
SMOKE_EXTRACTIONS = {
    "resnet152": Extraction("resnet18", "none", {"frames": 4}, {"input_size": 64}),
    "resnet152-hobincar": Extraction("resnet18", "none", {"frames": 4, "stride": 2, "margin": 1, "window": 5},
                                     {"input_size": 64, "fit": "short"}),
}
_SMOKE_MODEL = {"hidden_size": 32, "embed_size": 16, "attention_size": 16}
_SMOKE_TRAIN = ["train.epochs=2", "train.batch_size=16", "train.workers=0", "train.log_every=1000",
                "data.min_count=1", "data.max_len=10", "eval.max_len=10", "eval.batch_size=16",
                "train.scst_samples=2", "train.scst_max_len=10"]


def smoke_overrides(model_name: str, scst: bool) -> list[str]:
    """The ``key=value`` overrides that make a paper config a smoke run (only options the model takes);
    the cross-entropy runs get a rate at which a tiny model learns some words in two epochs.

    Example:
        >>> smoke_overrides("mp-lstm", scst=False)[:2]
        ['model.hidden_size=32', 'model.embed_size=16']
    """
    options = model_options(model_name)
    model = [f"model.{k}={v}" for k, v in _SMOKE_MODEL.items() if k in options]
    return model + _SMOKE_TRAIN + (["train.epochs=1"] if scst else ["train.lr=0.005"])
