"""What an attention decoder looked at: the frame-attention weights behind each word of a caption.

The caption is fed back through the model's own ``step`` (as decoding ran it, from BOS, one word at a
time); the weights come from the module the model names as its frame attention
(:meth:`~vidcap.models.base.CaptionModel.frame_attention`), read with a forward hook, so the models need
no extra output. The weights of step t are those the decoder computed before writing word t+1: the
frames that drove that word. The model itself puts them at the frames
(:meth:`~vidcap.models.base.CaptionModel.frame_weights`: SA-LSTM's memory holds the valid frames first,
Up-Down's every frame at its place), so nothing here depends on which model it is. Models without frame
attention (``mp-lstm``, ``s2vt``) have nothing to show; asking for it is a UsageError.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("sa-lstm", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4).eval()
    >>> feats, masks = {"frame": torch.randn(1, 5, 4)}, {"frame": torch.tensor([[1, 1, 0, 1, 1]], dtype=torch.bool)}
    >>> w = frame_attention(m, feats, masks, [4, 5, 6])
    >>> w.shape, w[:, 2].tolist(), [round(float(s), 5) for s in w.sum(1)]
    ((3, 5), [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    >>> frame_attention(get_model("s2vt", vocab_size=9, input_dims={"frame": 4}), feats, masks, [4])
    Traceback (most recent call last):
    ...
    vidcap.errors.UsageError: model s2vt has no attention over frames, so there is no per-word attention to show (models that have: sa-lstm, topdown)
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from vidcap.data import BOS
from vidcap.errors import UsageError
from vidcap.models import CaptionModel, frame_attention_models
from vidcap.models.attention import AdditiveAttention

__all__ = ["WordAttention", "frame_attention", "require_frame_attention"]


class WordAttention(NamedTuple):
    """Per-word frame attention of a caption: ``weights[w, f]`` is how much word ``words[w]`` attended to
    sampled frame ``positions[f]`` (an index into the video's sampled frames, the preview's frames)."""

    words: list[str]
    weights: np.ndarray
    positions: np.ndarray


def require_frame_attention(model: CaptionModel, context: str = "") -> AdditiveAttention:
    """``model``'s frame attention module, or a UsageError (prefixed with ``context``, e.g. the option that
    asked) naming the registered models that have one.

    Example:
        >>> from vidcap.models import get_model
        >>> require_frame_attention(get_model("mp-lstm", vocab_size=9, input_dims={"frame": 4}), "--attention: ")
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: --attention: model mp-lstm has no attention over frames, so there is no per-word attention to show (models that have: sa-lstm, topdown)
    """
    module = model.frame_attention()
    if module is None:
        name = getattr(model, "config", {}).get("name", type(model).__name__)
        raise UsageError(f"{context}model {name} has no attention over frames, so there is no per-word attention "
                         f"to show (models that have: {', '.join(frame_attention_models())})")
    return module


@torch.no_grad()
def frame_attention(model: CaptionModel, feats: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                    words: Sequence[int]) -> np.ndarray:
    """(len(words), T) frame-attention weights of one video (batch of 1) while the model writes ``words``
    (token ids without BOS/EOS); each row sums to 1 over the valid frames, 0 at invalid ones."""
    attention = require_frame_attention(model)
    seen: list[Tensor] = []
    handle = attention.register_forward_hook(lambda module, args, out: seen.append(out[1].detach()))
    try:
        enc = model.encode(feats, masks)  # checks the streams before frame_mask reads them
        valid = model.frame_mask(masks)
        if valid.size(0) != 1:
            raise UsageError(f"frame_attention reads one video at a time, got a batch of {valid.size(0)}")
        state = model.init_state(enc)
        for token in [BOS, *words][:len(words)]:  # the input before each word
            _, state = model.step(torch.tensor([token], device=valid.device), state, enc)
    finally:
        handle.remove()
    if len(seen) != len(words):
        raise RuntimeError(f"expected one frame attention per word, the model ran it {len(seen)} times "
                           f"for {len(words)} words")
    if not words:
        return np.zeros((0, valid.size(1)), dtype=np.float32)
    # One row per word, all of the same video: the rows are mapped as a batch of that video's mask.
    return model.frame_weights(torch.cat(seen), valid.expand(len(words), -1)).float().cpu().numpy()
