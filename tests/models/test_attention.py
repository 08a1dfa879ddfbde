"""vidcap.models.attention: masked additive attention."""
from __future__ import annotations

import torch

from vidcap.models.attention import AdditiveAttention


def test_weights_are_a_softmax_over_valid_positions_only():
    torch.manual_seed(0)
    att = AdditiveAttention(query_size=4, memory_size=3, att_size=5)
    memory, query = torch.randn(2, 5, 3), torch.randn(2, 4)
    mask = torch.tensor([[True, False, True, True, False], [True] * 5])
    context, weights = att(query, att.keys(memory), memory, mask)
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    # By hand: scores wᵀ tanh(W_k m + W_q q), softmax over the valid positions of row 0.
    scores = att.score(torch.tanh(att.key_proj(memory[0]) + att.query_proj(query[0]))).squeeze(-1)
    expected = torch.softmax(scores[mask[0]], 0)
    torch.testing.assert_close(weights[0, mask[0]], expected)
    torch.testing.assert_close(context[0], expected @ memory[0, mask[0]])
    # Invalid positions do not matter, whatever they hold.
    garbage = torch.where(mask.unsqueeze(-1), memory, torch.randn(2, 5, 3) * 100)
    context2, _ = att(query, att.keys(garbage), garbage, mask)
    torch.testing.assert_close(context2, context)


def test_no_valid_position_gives_a_zero_context_and_gradients_stay_finite():
    att = AdditiveAttention(query_size=4, memory_size=3, att_size=5)
    memory = torch.randn(2, 4, 3, requires_grad=True)
    mask = torch.tensor([[False] * 4, [True, True, False, False]])
    context, weights = att(torch.randn(2, 4), att.keys(memory), memory, mask)
    assert (context[0] == 0).all() and (weights[0] == 0).all()
    context.sum().backward()
    assert torch.isfinite(memory.grad).all()
