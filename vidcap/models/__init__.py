"""Caption models (registry: ``get_model``, ``list_models``) and decoding (greedy, beam search, sampling).

Models: ``mp-lstm`` (mean-pooled features), ``s2vt`` (stacked sequence to sequence), ``sa-lstm``
(recurrent frame encoder + temporal attention, and attention over objects when an object stream is
given); each with ``cell="lstm"`` (default) or ``"gru"``. Options: ``embed_size``, ``hidden_size``,
``layers``, ``dropout``, ``cell``, and ``attention_size`` for ``sa-lstm``. ``topdown`` (Up-Down:
attention LSTM + language LSTM over frames and objects) takes ``embed_size``, ``hidden_size``,
``attention_size`` and ``dropout``.

Example:
    >>> from vidcap.models import beam_search, get_model, list_models
    >>> list_models()
    ['mp-lstm', 's2vt', 'sa-lstm', 'topdown']
    >>> model = get_model("sa-lstm", vocab_size=100, input_dims={"frame": 512, "objects": (10, 256)},
    ...                   hidden_size=64, cell="gru").eval()
    >>> model.config["name"], model.config["cell"]
    ('sa-lstm', 'gru')
    >>> feats = {"frame": torch.randn(2, 8, 512), "objects": torch.randn(2, 8, 10, 256)}
    >>> masks = {"frame": torch.ones(2, 8, dtype=torch.bool), "objects": torch.ones(2, 8, 10, dtype=torch.bool)}
    >>> len(beam_search(model, feats, masks, beam_size=3, max_len=5).tokens)
    2
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import torch  # noqa: F401  (the examples above use it)

from vidcap.errors import UsageError
from vidcap.models.base import CaptionModel, Streams
from vidcap.models.decoding import Decoded, beam_search, excluded_tokens, greedy, sample
from vidcap.models.mp_lstm import MPLSTM
from vidcap.models.rnn import CELLS
from vidcap.models.s2vt import S2VT
from vidcap.models.sa_lstm import SALSTM
from vidcap.models.topdown import TopDown
from vidcap.registry import Registry

MODELS: Registry[type[CaptionModel]] = Registry("model")
MODELS.register("mp-lstm")(MPLSTM)
MODELS.register("s2vt")(S2VT)
MODELS.register("sa-lstm")(SALSTM)
MODELS.register("topdown")(TopDown)

_REQUIRED = ("vocab_size", "input_dims")


def _options(builder: Callable[..., CaptionModel]) -> list[inspect.Parameter]:
    """The builder's keyword-only parameters but the required ones, annotations evaluated to types."""
    params = inspect.signature(builder, eval_str=True).parameters.values()
    return [p for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _REQUIRED]


def model_options(name: str) -> dict[str, Any]:
    """The options of model ``name`` with their defaults.

    Example:
        >>> model_options("mp-lstm")
        {'embed_size': 300, 'hidden_size': 512, 'layers': 1, 'dropout': 0.5, 'cell': 'lstm', 'embed_activation': 'none'}
    """
    return {p.name: p.default for p in _options(MODELS.get(name))}


def all_options(models: Registry[Callable[..., CaptionModel]] = MODELS) -> dict[str, inspect.Parameter]:
    """Every option of the models in ``models`` (in the order first met) → its constructor parameter, whose
    ``default`` and ``annotation`` (a type) are the option's one default and type.

    A model's constructor is the one place its defaults are written; the config schema reads them here. An
    option several models take must have the same default and type in each of them, else ``TypeError``
    naming the option and the models that disagree (a config key has one default).

    Example:
        >>> options = all_options()
        >>> options["dropout"].default, options["dropout"].annotation
        (0.5, <class 'float'>)
    """
    first: dict[str, tuple[str, inspect.Parameter]] = {}
    for name in models.names():
        for param in _options(models.get(name)):
            seen, other = first.setdefault(param.name, (name, param))
            if (other.default, other.annotation) != (param.default, param.annotation):
                raise TypeError(
                    f"models {seen} and {name} disagree on option {param.name}: {_shown(other)} and "
                    f"{_shown(param)}; a config key has one default and type, so give both constructors the same")
    return {option: param for option, (_, param) in first.items()}


def _shown(param: inspect.Parameter) -> str:
    kind = getattr(param.annotation, "__name__", param.annotation)
    return f"{kind} = {param.default!r}"


def get_model(name: str, *, vocab_size: int, input_dims: Mapping[str, int | Sequence[int]],
              **cfg: Any) -> CaptionModel:
    """Build caption model ``name``; ``cfg`` sets its options (see :func:`model_options`).

    Unknown names or options raise ``UsageError`` listing the valid ones. ``model.config`` holds
    everything needed to rebuild it: ``get_model(**model.config)``.

    Example:
        >>> m = get_model("s2vt", vocab_size=50, input_dims={"frame": 16}, hidden_size=32, layers=2)
        >>> type(m).__name__, m.config["layers"]
        ('S2VT', 2)
        >>> get_model("s2vt", vocab_size=50, input_dims={"frame": 16}, attention_size=8)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: model s2vt has no option 'attention_size'; its options: embed_size, hidden_size, ...
    """
    options = model_options(name)
    unknown = [k for k in cfg if k not in options]
    if unknown:
        raise UsageError(f"model {name} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(options)}")
    model = MODELS.get(name)(vocab_size=vocab_size, input_dims=input_dims, **cfg)
    model.config = {"name": name, "vocab_size": vocab_size, "input_dims": model.streams.as_config(),
                    **options, **cfg}
    return model


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, sorted."""
    return MODELS.names()


def frame_attention_models() -> list[str]:
    """The registered models whose decoder attends over the frames (each class says so:
    :meth:`CaptionModel.attends_to_frames`), sorted.

    Example:
        >>> frame_attention_models()
        ['sa-lstm', 'topdown']
    """
    return [name for name in MODELS.names() if MODELS.get(name).attends_to_frames()]


__all__ = ["CELLS", "CaptionModel", "Decoded", "MODELS", "Streams", "all_options", "beam_search", "excluded_tokens",
           "frame_attention_models", "get_model", "greedy", "list_models", "model_options", "sample"]
