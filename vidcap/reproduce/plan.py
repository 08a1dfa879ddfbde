"""What a reproduction runs: the paper configs of a dataset, the feature stores they read, the published
numbers they are compared with, and the tiny settings of a smoke run.

A :class:`Dataset` entry is data, not code: ``DATASETS["msrvtt"]`` lists the configs (in the order they
run; a config whose ``train.init`` names another's checkpoint runs after it, seed by seed), the one
extraction per backbone they share, and :data:`PUBLISHED`, each number with its exact source.

Example:
    >>> plan = DATASETS["msrvtt"]
    >>> [run.config for run in plan.runs]
    ['mp_lstm_msrvtt', 's2vt_msrvtt', 'sa_lstm_msrvtt', 'sa_lstm_scst_msrvtt']
    >>> plan.runs[3].init_from, plan.extractions["resnet152"].weights
    ('sa_lstm_msrvtt', 'IMAGENET1K_V1')
    >>> [p.model for p in PUBLISHED["sa_lstm_msrvtt"]][:2]
    ['SA-LSTM (ResNet-152, hobincar/SA-LSTM, mean of 5 runs)', 'SA-LSTM (Inception-V4, RecNet paper)']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidcap.models import model_options

__all__ = ["DATASETS", "Dataset", "Extraction", "METRICS", "PUBLISHED", "Published", "Run", "smoke_overrides"]

# The four numbers every table reports (pycocoevalcap names), published ×100.
METRICS = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


@dataclass(frozen=True)
class Extraction:
    """One feature store: how ``vidcap extract`` makes it (``options`` are backbone options)."""

    backbone: str
    weights: str
    frames: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """One paper config (``configs/<config>.yaml``), trained on the store of ``features`` (an
    :class:`Extraction` name) and, when ``init_from`` names another config, from that config's
    ``best.pt`` of the same seed."""

    config: str
    features: str
    init_from: str | None = None


@dataclass(frozen=True)
class Published:
    """A published test result (×100) and where it is printed."""

    model: str
    scores: tuple[float, float, float, float]  # METRICS order
    source: str


@dataclass(frozen=True)
class Dataset:
    extractions: dict[str, Extraction]
    runs: tuple[Run, ...]
    split: str = "test"


# Every number here is checked against the source named beside it (stored copies of the repositories'
# files); a config without a checked number has none.
PUBLISHED: dict[str, tuple[Published, ...]] = {
    "mp_lstm_msrvtt": (
        Published("MP-LSTM (ResNet-152, X-modaler)", (38.6, 25.8, 58.3, 40.1),
                  "YehLi/xmodaler docs/notes/benchmarks.md, 'Video Captioning on MSR-VTT'"),),
    "s2vt_msrvtt": (),
    "sa_lstm_msrvtt": (
        Published("SA-LSTM (ResNet-152, hobincar/SA-LSTM, mean of 5 runs)", (36.4, 25.5, 57.6, 41.3),
                  "hobincar/SA-LSTM README.md, 'Performances', MSR-VTT, 'Ours' ResNet-152 row"),
        Published("SA-LSTM (Inception-V4, RecNet paper)", (36.3, 25.5, 58.3, 39.9),
                  "Wang et al., RecNet, CVPR 2018, as quoted in hobincar/RecNet and hobincar/SA-LSTM README.md"),
        Published("TA (temporal attention, X-modaler)", (39.3, 25.8, 58.8, 41.5),
                  "YehLi/xmodaler docs/notes/benchmarks.md, 'Video Captioning on MSR-VTT'"),
    ),
    "sa_lstm_scst_msrvtt": (),
}

DATASETS: dict[str, Dataset] = {
    "msrvtt": Dataset(
        extractions={"resnet152": Extraction("resnet152", "IMAGENET1K_V1", 28)},
        runs=(Run("mp_lstm_msrvtt", "resnet152"), Run("s2vt_msrvtt", "resnet152"),
              Run("sa_lstm_msrvtt", "resnet152"),
              Run("sa_lstm_scst_msrvtt", "resnet152", init_from="sa_lstm_msrvtt")),
    ),
}

# --smoke: a backbone that runs in seconds on a CPU (random weights: no download), 4 frames, and models
# small enough that every config trains in seconds. The numbers only show that the pipeline runs.
SMOKE_EXTRACTION = Extraction("resnet18", "none", 4, {"input_size": 64})
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
