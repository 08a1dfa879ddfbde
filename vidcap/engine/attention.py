"""What an attention decoder looked at: the frame-attention weights behind each word of a caption.

The caption is fed back through the model's own ``step`` (as decoding ran it, from BOS, one word at a
time); the weights come from the model's frame attention module (an
:class:`~vidcap.models.attention.AdditiveAttention` over the frame memory), read with a forward hook,
so the models need no extra output. The weights of step t are those the decoder computed before
writing word t+1: the frames that drove that word.

:data:`FRAME_ATTENTION` says, per model name, which module attends over the frames and how its memory
is laid out: SA-LSTM's memory holds the valid frames moved to the front in order (``left_align``), so
position i is the i-th valid frame; Up-Down's keeps every frame at its place. Models without frame
attention (``mp-lstm``, ``s2vt``) have nothing to show; asking for it is a UsageError.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("sa-lstm", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4).eval()
    >>> feats, masks = {"frame": torch.randn(1, 5, 4)}, {"frame": torch.tensor([[1, 1, 0, 1, 1]], dtype=torch.bool)}
    >>> w = frame_attention(m, feats, masks, [4, 5, 6])
    >>> w.shape, w[:, 2].tolist(), [round(float(s), 5) for s in w.sum(1)]
    ((3, 5), [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    >>> sorted(FRAME_ATTENTION)
    ['sa-lstm', 'topdown']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from vidcap.data import BOS
from vidcap.errors import UsageError
from vidcap.models import CaptionModel
from vidcap.models.attention import AdditiveAttention

__all__ = ["FRAME_ATTENTION", "FrameAttention", "WordAttention", "frame_attention", "has_frame_attention"]


@dataclass(frozen=True)
class FrameAttention:
    """Where a model attends over frames: ``module(model)`` is the attention over the frame memory;
    ``left_aligned``: the memory holds the valid frames first (else every frame at its own place)."""

    module: Callable[[CaptionModel], AdditiveAttention]
    left_aligned: bool


FRAME_ATTENTION: dict[str, FrameAttention] = {
    "sa-lstm": FrameAttention(lambda m: m.frame_att, left_aligned=True),
    "topdown": FrameAttention(lambda m: m.attention[0], left_aligned=False),  # memory 0 is the frames
}


class WordAttention(NamedTuple):
    """Per-word frame attention of a caption: ``weights[w, f]`` is how much word ``words[w]`` attended to
    sampled frame ``positions[f]`` (an index into the video's sampled frames, the preview's frames)."""

    words: list[str]
    weights: np.ndarray
    positions: np.ndarray


def has_frame_attention(model: CaptionModel) -> bool:
    """Whether ``model`` attends over frames (and so can show what each word looked at)."""
    return _name(model) in FRAME_ATTENTION


def _name(model: CaptionModel) -> str:
    return getattr(model, "config", {}).get("name", type(model).__name__)


@torch.no_grad()
def frame_attention(model: CaptionModel, feats: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                    words: Sequence[int]) -> np.ndarray:
    """(len(words), T) frame-attention weights of one video (batch of 1) while the model writes ``words``
    (token ids without BOS/EOS); each row sums to 1 over the valid frames, 0 at invalid ones."""
    if not has_frame_attention(model):
        raise UsageError(f"model {_name(model)} has no attention over frames, so there is no per-word attention "
                         f"to show (models that have: {', '.join(FRAME_ATTENTION)})")
    where = FRAME_ATTENTION[_name(model)]
    valid = torch.stack([masks[n].bool() for n in model.streams.frames]).all(0)[0]  # as frame_sequence's mask
    if not words:
        return np.zeros((0, valid.numel()), dtype=np.float32)
    seen: list[Tensor] = []
    handle = where.module(model).register_forward_hook(lambda module, args, out: seen.append(out[1].detach()))
    try:
        enc = model.encode(feats, masks)
        state = model.init_state(enc)
        for token in [BOS, *words[:-1]]:
            _, state = model.step(torch.tensor([token], device=valid.device), state, enc)
    finally:
        handle.remove()
    if len(seen) != len(words):
        raise RuntimeError(f"expected one frame attention per word, the model ran it {len(seen)} times "
                           f"for {len(words)} words")
    weights = torch.cat(seen).float().cpu().numpy()
    if not where.left_aligned:
        return weights
    positions = np.flatnonzero(valid.cpu().numpy())
    out = np.zeros((len(words), valid.numel()), dtype=np.float32)
    out[:, positions] = weights[:, :len(positions)]
    return out
