"""MP-LSTM (Venugopalan et al., 2015): a mean-pooled video vector fed to an LSTM/GRU at every word.

Each frame-like stream is averaged over its valid frames, each object stream over all valid detections
of the clip (zeros when there are none); the averages are concatenated and projected to
``embed_size``. The decoder input at every step is [word embedding; video vector]. ``embed_activation``
follows both embeddings with a non-linearity (``relu``: X-modaler's TOKEN_EMBED and VISUAL_EMBED
ACTIVATION); the default, ``none``, keeps them linear.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("mp-lstm", vocab_size=20, input_dims={"frame": 16, "objects": (5, 8)}, hidden_size=32)
    >>> feats = {"frame": torch.randn(2, 6, 16), "objects": torch.randn(2, 6, 5, 8)}
    >>> masks = {"frame": torch.ones(2, 6, dtype=torch.bool), "objects": torch.rand(2, 6, 5) > 0.5}
    >>> enc = m.encode(feats, masks)
    >>> logp, state = m.step(torch.tensor([1, 1]), m.init_state(enc), enc)
    >>> logp.shape
    torch.Size([2, 20])
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from vidcap.errors import UsageError
from vidcap.models.base import CaptionModel, Feats, Masks, State, masked_mean

# model.embed_activation: what follows the word and video embeddings.
EMBED_ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU}


class MPLSTM(CaptionModel):
    """Mean-pooled features + LSTM/GRU decoder."""

    def __init__(self, *, vocab_size: int, input_dims: Mapping[str, int | Sequence[int]], embed_size: int = 300,
                 hidden_size: int = 512, layers: int = 1, dropout: float = 0.5, cell: str = "lstm",
                 embed_activation: str = "none"):
        if embed_activation not in EMBED_ACTIVATIONS:
            raise UsageError(f"model.embed_activation={embed_activation!r}: choose one of "
                             f"{', '.join(EMBED_ACTIVATIONS)}")
        super().__init__(vocab_size=vocab_size, input_dims=input_dims, embed_size=embed_size,
                         hidden_size=hidden_size, layers=layers, dropout=dropout, cell=cell)
        self.act = EMBED_ACTIVATIONS[embed_activation]()
        feat_size = sum(self.streams.feature_dims.values())
        self.video_proj = nn.Linear(feat_size, embed_size)
        self.rnn = self.recurrent(2 * embed_size)

    def encode(self, feats: Feats, masks: Masks) -> State:
        feats, masks = self.check_inputs(feats, masks)
        pooled = [masked_mean(feats[n], masks[n]) for n in self.streams.names]
        return {"video": self.drop(self.act(self.video_proj(torch.cat(pooled, dim=-1))))}

    def init_state(self, enc: State) -> State:
        video = enc["video"]
        return self.rnn.zero_state(video.size(0), video.device, video.dtype)

    def decode(self, tokens: Tensor, state: State, enc: State) -> tuple[Tensor, State]:
        words = self.drop(self.act(self.embed(tokens)))
        video = enc["video"].unsqueeze(1).expand(-1, tokens.size(1), -1)
        out, state = self.rnn(torch.cat([words, video], dim=-1), state)
        return self.out(self.drop(out)), state
