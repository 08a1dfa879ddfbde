"""The caption-model interface, the input-stream contract with the data layer, and shared helpers.

A model reads named feature streams: frame-like streams ``(B, T, D)`` (``"frame"``,
``"resnet152/frame"``, …) and object streams ``(B, T, K, D)`` (YOLO ``"objects"``: K detections per
frame), each with a bool mask of the same leading shape (True = valid). ``input_dims`` gives D for a
frame-like stream and ``(K, D)`` for an object stream.

Every model implements ``encode`` (features → a dict of batch-first tensors), ``init_state`` (→ a dict
of batch-first decoder state tensors) and ``decode`` (a run of tokens → logits); ``step`` and
``forward`` are built from them here, so teacher forcing and step-by-step decoding share one code path.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("mp-lstm", vocab_size=10, input_dims={"frame": 8}, hidden_size=16, embed_size=8)
    >>> feats, masks = {"frame": torch.randn(2, 5, 8)}, {"frame": torch.ones(2, 5, dtype=torch.bool)}
    >>> m(feats, masks, torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])).shape
    torch.Size([2, 3, 10])
"""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from vidcap.data.vocab import BOS, EOS, PAD, UNK
from vidcap.errors import InputError, UsageError
from vidcap.models.attention import AdditiveAttention
from vidcap.models.rnn import Recurrent, cell_spec

Feats = Mapping[str, Tensor]
Masks = Mapping[str, Tensor]
State = dict[str, Tensor]  # encoder outputs and decoder states: batch-first tensors by name


# Stacked recurrent layers a model may have. Captioning decoders use one to four; the bound is what keeps a model
# file that asks for 100,000 from costing minutes of building (each layer is modules and state, before any size
# check can count parameters). The config schema's model.layers range reads it.
MAX_LAYERS = 64


def positive_int(name: str, value: object, *, at_most: int | None = None) -> int:
    """``value`` when it is an int ≥ 1 (bools excluded) and, when ``at_most`` is given, no larger than it;
    else a ``UsageError`` naming ``name``.

    Example:
        >>> positive_int("layers", 2, at_most=MAX_LAYERS)
        2
        >>> positive_int("layers", 100000, at_most=MAX_LAYERS)
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: layers must be at most 64, got 100000
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    if at_most is not None and value > at_most:
        raise UsageError(f"{name} must be at most {at_most}, got {value!r}")
    return value


@dataclass(frozen=True)
class Streams:
    """The streams a model was built for: ``frames`` name → D, ``objects`` name → (K, D)."""

    frames: dict[str, int]
    objects: dict[str, tuple[int, int]]

    @classmethod
    def parse(cls, input_dims: Mapping[str, int | Sequence[int]]) -> "Streams":
        """Validate ``input_dims`` (lists are accepted for tuples, as they come back from JSON/YAML)."""
        if not isinstance(input_dims, Mapping) or not input_dims:
            raise UsageError(f"input_dims must map stream names to D or (K, D), got {input_dims!r}")
        frames, objects = {}, {}
        for name, dim in input_dims.items():
            if isinstance(dim, Sequence) and len(dim) == 2:
                objects[name] = (positive_int(f"input_dims[{name!r}][0]", dim[0]),
                                 positive_int(f"input_dims[{name!r}][1]", dim[1]))
            elif isinstance(dim, int) and not isinstance(dim, bool):
                frames[name] = positive_int(f"input_dims[{name!r}]", dim)
            else:
                raise UsageError(f"input_dims[{name!r}] must be D (frame-like stream) or (K, D) "
                                 f"(object stream), got {dim!r}")
        return cls(frames, objects)

    def as_config(self) -> dict[str, int | list[int]]:
        return {**self.frames, **{n: list(kd) for n, kd in self.objects.items()}}

    @property
    def feature_dims(self) -> dict[str, int]:
        """Each stream's feature size D (per frame, or per object), frames first."""
        return {**self.frames, **{n: kd[1] for n, kd in self.objects.items()}}

    def check(self, feats: Feats, masks: Masks, dtype: torch.dtype) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The model's streams from ``feats``/``masks``, checked, as ``dtype`` and bool; extra streams are ignored."""
        out_f, out_m, batch = {}, {}, None
        for name, dim in self.feature_dims.items():
            ndim = 3 if name in self.frames else 4
            want = "(B, T, D)" if ndim == 3 else "(B, T, K, D)"
            if name not in feats or name not in masks:
                missing = "feats" if name not in feats else "masks"
                raise InputError(f"{missing} lacks stream {name!r}; the model reads: {', '.join(self.names)}")
            x, m = feats[name], masks[name]
            if x.dim() != ndim or x.size(-1) != dim:
                raise InputError(f"stream {name!r}: expected shape {want} with D={dim}, got {tuple(x.shape)}")
            if tuple(m.shape) != tuple(x.shape[:-1]):
                raise InputError(f"mask of stream {name!r}: expected shape {tuple(x.shape[:-1])}, got {tuple(m.shape)}")
            if batch is not None and x.size(0) != batch:
                raise InputError(f"stream {name!r} has batch size {x.size(0)}, other streams {batch}")
            batch = x.size(0)
            out_f[name], out_m[name] = x.to(dtype), m.bool()
        return out_f, out_m

    @property
    def names(self) -> list[str]:
        return [*self.frames, *self.objects]


class VocabLinear(nn.Linear):
    """The output layer (hidden → vocabulary logits): an ``nn.Linear`` (same parameters and state dict)
    that, when decoding on a CPU, multiplies by blocks of ``chunk`` vocabulary rows at a time.

    Why: with a vocabulary of ~10⁴ words the weight (V × H) is tens of MB, and one large product over it
    ran at two thirds of the speed of the same product cut into blocks whose weights stay in cache
    (docs/benchmarks.md, "Figures the code's comments rely on"). Each
    logit is still one dot product over the whole hidden vector, so the values are the same. Training
    (autograd on) and GPUs use the plain product.

    Example:
        >>> layer = VocabLinear(8, 5000)
        >>> x = torch.randn(3, 8)
        >>> with torch.no_grad():
        ...     torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias))
        True
    """

    chunk = 1024

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu" or self.out_features <= 2 * self.chunk:
            return F.linear(x, self.weight, self.bias)
        rows = x.reshape(-1, self.in_features)
        out = torch.empty(rows.size(0), self.out_features, dtype=torch.result_type(rows, self.weight))
        for start in range(0, self.out_features, self.chunk):
            end = start + self.chunk
            bias = None if self.bias is None else self.bias[start:end]
            out[:, start:end] = F.linear(rows, self.weight[start:end], bias)
        return out.view(*x.shape[:-1], self.out_features)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` (B, *S, D) over the valid positions of ``mask`` (B, *S); zeros where none is valid."""
    m = mask.flatten(1).to(x.dtype)
    total = torch.einsum("bn,bnd->bd", m, x.flatten(1, -2))
    return total / m.sum(1, keepdim=True).clamp(min=1.0)


def left_align(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Move the valid steps of ``x`` (B, T, D) to the front, keeping their order.

    Returns the aligned ``x``, its mask (a prefix of True) and the lengths, so that a packed RNN sees
    only valid frames wherever the padding was. Every sequence needs at least one valid step.
    """
    lengths = mask.sum(1)
    if bool((lengths == 0).any()):
        rows = (lengths == 0).nonzero().flatten().tolist()
        raise InputError(f"videos at batch positions {rows} have no valid frame (their masks are all False)")
    order = _valid_first(mask)
    aligned = x.gather(1, order.unsqueeze(-1).expand_as(x))
    return aligned, torch.arange(x.size(1), device=x.device) < lengths.unsqueeze(1), lengths


def _valid_first(mask: Tensor) -> Tensor:
    """(B, T) step indices, the valid ones first, each group in its order: :func:`left_align`'s gather order."""
    return (~mask).to(torch.uint8).sort(dim=1, stable=True).indices


def unalign(values: Tensor, mask: Tensor) -> Tensor:
    """Per-step values (B, T) of a :func:`left_align`-ed sequence put back at their steps of ``mask``
    (B, T); the steps ``mask`` marks invalid get 0.

    Example:
        >>> unalign(torch.tensor([[0.5, 0.25, 0.25, 0.0]]), torch.tensor([[True, False, True, True]]))
        tensor([[0.5000, 0.0000, 0.2500, 0.2500]])
    """
    prefix = torch.arange(mask.size(1), device=mask.device) < mask.sum(1, keepdim=True)  # the aligned valid steps
    return torch.zeros_like(values).scatter(1, _valid_first(mask), values.masked_fill(~prefix, 0))


def frame_sequence(feats: dict[str, Tensor], masks: dict[str, Tensor], frames: Sequence[str],
                   objects: Sequence[str] = ()) -> tuple[Tensor, Tensor]:
    """Frame-like streams concatenated per time step, plus each object stream's per-frame masked mean.

    Returns (B, T, ΣD) and the mask (B, T) valid where every frame-like stream is valid (object
    streams only add features: a frame without detections gets zeros). Streams must share T. With
    object streams alone every frame counts as valid, since "no detection" and "padding" look alike:
    pair them with a frame-like stream (every backbone has one) when videos differ in length.
    """
    names = [*frames, *objects]
    lengths = {n: feats[n].size(1) for n in names}
    if len(set(lengths.values())) > 1:
        raise InputError(f"streams combined per time step need the same number of frames, got {lengths}")
    parts = [feats[n] for n in frames]
    for n in objects:  # (B, T, K, D) → (B, T, D), averaged over each frame's valid detections
        m = masks[n].to(feats[n].dtype)
        parts.append(torch.einsum("btk,btkd->btd", m, feats[n]) / m.sum(2, keepdim=True).clamp(min=1.0))
    mask = joint_mask(masks, frames) if frames else masks[objects[0]].new_ones(feats[objects[0]].shape[:2])
    return torch.cat(parts, dim=-1), mask


def joint_mask(masks: Mapping[str, Tensor], names: Sequence[str]) -> Tensor:
    """True where every stream in ``names`` is valid (:func:`frame_sequence`'s mask of frame-like streams)."""
    return torch.stack([masks[n].bool() for n in names]).all(0)


class CaptionModel(nn.Module, metaclass=ABCMeta):
    """Base class: embedding, output layer, dropout, cell choice and input checking.

    Subclasses implement ``encode``, ``init_state`` and ``decode``; ``config`` records the
    arguments that rebuild the model with :func:`vidcap.models.get_model` (set by ``get_model``).
    """

    config: dict

    def __init__(self, *, vocab_size: int, input_dims: Mapping[str, int | Sequence[int]], embed_size: int,
                 hidden_size: int, layers: int, dropout: float, cell: str):
        super().__init__()
        self.vocab_size = positive_int("vocab_size", vocab_size)
        if vocab_size <= max(PAD, BOS, EOS, UNK):
            raise UsageError(f"vocab_size must count the special tokens PAD, BOS, EOS, UNK too, got {vocab_size}")
        self.embed_size = positive_int("embed_size", embed_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.layers = positive_int("layers", layers, at_most=MAX_LAYERS)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise UsageError(f"dropout must be a number in [0, 1), got {dropout!r}")
        cell_spec(cell)  # fail early with the list of cells
        self.cell, self.dropout_p = cell, float(dropout)
        self.streams = Streams.parse(input_dims)
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.out = VocabLinear(hidden_size, vocab_size)

    def recurrent(self, input_size: int, prefix: str = "") -> Recurrent:
        """A decoder/encoder RNN with this model's cell, hidden size, layers and dropout."""
        return Recurrent(cell=self.cell, input_size=input_size, hidden_size=self.hidden_size, layers=self.layers,
                         dropout=self.dropout_p, prefix=prefix)

    def check_inputs(self, feats: Feats, masks: Masks) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        return self.streams.check(feats, masks, self.out.weight.dtype)

    # ------------------------------------------------------------------ frame attention (what each word looked at)
    #: Where the decoder attends over the frames at every step: the submodule's ``get_submodule`` path (an
    #: :class:`~vidcap.models.attention.AdditiveAttention`; :meth:`frame_weights` puts its weights at the
    #: frames). None: the model has no attention over frames. A class attribute, so that the models that have
    #: one can be listed without building any (``vidcap.models.frame_attention_models``).
    frame_attention_path: ClassVar[str | None] = None

    @classmethod
    def attends_to_frames(cls) -> bool:
        """Whether the decoder attends over the frames, and so can show what each word looked at."""
        return cls.frame_attention_path is not None

    def frame_attention(self) -> AdditiveAttention | None:
        """The module that attends over the frames, run once per decoding step (its forward returns
        ``(context, weights (B, N))``); None when the model has none.

        Example:
            >>> from vidcap.models import get_model
            >>> m = get_model("topdown", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4)
            >>> m.attends_to_frames(), type(m.frame_attention()).__name__
            (True, 'AdditiveAttention')
            >>> get_model("s2vt", vocab_size=9, input_dims={"frame": 4}).frame_attention() is None
            True
        """
        return None if self.frame_attention_path is None else self.get_submodule(self.frame_attention_path)

    def frame_mask(self, masks: Masks) -> Tensor:
        """(B, T): the frames the model reads, True where every one of its frame-like streams is valid."""
        return joint_mask(masks, list(self.streams.frames))

    def frame_weights(self, weights: Tensor, mask: Tensor) -> Tensor:
        """One step's weights (B, N) of :meth:`frame_attention` → (B, T) weights at the frames of ``mask``
        (:meth:`frame_mask`), 0 at invalid frames. Here the memory holds every frame at its own place
        (N = T), as Up-Down's does; a model whose memory orders the frames otherwise overrides this.

        Example:
            >>> from vidcap.models import get_model
            >>> m = get_model("topdown", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4)
            >>> m.frame_weights(torch.tensor([[0.75, 0.0, 0.25]]), torch.tensor([[True, False, True]])).tolist()
            [[0.75, 0.0, 0.25]]
        """
        return weights

    # ------------------------------------------------------------------ implemented by each model
    @abstractmethod
    def encode(self, feats: Feats, masks: Masks) -> State:
        """Features → a dict of batch-first tensors that ``init_state`` and ``decode`` read."""

    @abstractmethod
    def init_state(self, enc: State) -> State:
        """The decoder state before the first token (batch-first tensors)."""

    @abstractmethod
    def decode(self, tokens: Tensor, state: State, enc: State) -> tuple[Tensor, State]:
        """Tokens (B, L) → logits (B, L, V) for the next token at each position, and the new state."""

    # ------------------------------------------------------------------ shared
    def step(self, tokens: Tensor, state: State, enc: State) -> tuple[Tensor, State]:
        """One decoding step: tokens (B,) → log-probabilities (B, V) of the next token, new state."""
        logits, state = self.decode(tokens.unsqueeze(1), state, enc)
        logits = logits[:, 0]  # scores in at least float32, also under fp16/bf16 autocast
        return F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1), state

    def forward(self, feats: Feats, masks: Masks, captions: Tensor) -> Tensor:
        """Teacher forcing: captions (B, T) from BOS to EOS, PAD-padded → logits (B, T-1, V) for positions 1..T-1."""
        if captions.dim() != 2 or captions.size(1) < 2:
            raise InputError(f"captions must be (B, T) with T >= 2 (BOS … EOS), got shape {tuple(captions.shape)}")
        enc = self.encode(feats, masks)
        logits, _ = self.decode(captions[:, :-1], self.init_state(enc), enc)
        return logits
