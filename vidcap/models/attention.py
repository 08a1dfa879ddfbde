"""Additive (Bahdanau-style) soft attention over a masked set of vectors.

The key projection of the memory does not depend on the decoder state, so it is computed once per
video (``keys``) and stored in the encoder output; each decoding step then costs one projection of the
query. Invalid positions get exactly zero weight, and a memory with no valid position at all (a video
where YOLO found nothing) yields a zero context instead of NaNs.

Example:
    >>> att = AdditiveAttention(query_size=8, memory_size=6, att_size=5)
    >>> memory, mask = torch.randn(2, 4, 6), torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    >>> context, weights = att(torch.randn(2, 8), att.keys(memory), memory, mask)
    >>> context.shape, [round(w, 4) for w in weights.sum(1).tolist()]  # the second video has nothing to attend
    (torch.Size([2, 6]), [1.0, 0.0])
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class AdditiveAttention(nn.Module):
    """score_i = wᵀ tanh(W_k m_i + W_q q); weights = softmax over the valid i; context = Σ weights_i m_i."""

    def __init__(self, *, query_size: int, memory_size: int, att_size: int):
        super().__init__()
        self.key_proj = nn.Linear(memory_size, att_size)
        self.query_proj = nn.Linear(query_size, att_size, bias=False)
        self.score = nn.Linear(att_size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """Projected memory (B, N, att_size); compute once per video."""
        return self.key_proj(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, Q), keys (B, N, A), memory (B, N, M), mask (B, N) → context (B, M), weights (B, N)."""
        scores = self.score(torch.tanh(keys + self.query_proj(query).unsqueeze(1))).squeeze(-1)
        scores = scores.masked_fill(~mask, float("-inf"))
        # Rows without any valid position would be all -inf (softmax → NaN): score them 0, weight them 0.
        scores = torch.where(mask.any(1, keepdim=True), scores, torch.zeros_like(scores))
        weights = torch.softmax(scores, dim=1) * mask
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights
