"""The frame-attention interface of the caption models (CaptionModel.frame_attention, frame_weights):
each model says whether it attends over the frames and puts one step's weights back at the frames."""
from __future__ import annotations

import torch

from vidcap.models import MODELS, frame_attention_models, get_model, list_models
from vidcap.models.base import left_align, unalign


def test_unalign_puts_each_left_aligned_value_back_at_its_step():
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(6, 7, generator=gen) < 0.6
    mask[:, 3] = True  # at least one valid step per row, invalid steps before and after it in most rows
    values = torch.randn(6, 7, generator=gen)
    aligned, aligned_mask, _ = left_align(values.unsqueeze(-1), mask)
    back = unalign(aligned.squeeze(-1).masked_fill(~aligned_mask, 0), mask)
    torch.testing.assert_close(back, values.masked_fill(~mask, 0), rtol=0, atol=0)
    # What sits past a row's length in the aligned order (padding) never lands on a frame.
    noisy = aligned.squeeze(-1).masked_fill(~aligned_mask, 1e6)
    torch.testing.assert_close(unalign(noisy, mask), back, rtol=0, atol=0)


def test_each_registered_class_says_whether_it_attends_over_frames():
    # Asked of the classes, without building a model: the list the UsageError shows.
    said = {name: MODELS.get(name).attends_to_frames() for name in list_models()}
    assert frame_attention_models() == [name for name, attends in said.items() if attends]
    assert said == {"mp-lstm": False, "s2vt": False, "sa-lstm": True, "topdown": True}


def test_sa_lstm_maps_each_videos_weights_with_its_own_mask():
    model = get_model("sa-lstm", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4).eval()
    mask = torch.tensor([[True, False, True, True], [False, True, False, True]])
    weights = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.75, 0.25, 0.0, 0.0]])  # memory: the valid frames first
    assert model.frame_weights(weights, mask).tolist() == [[0.5, 0.0, 0.25, 0.25], [0.0, 0.75, 0.0, 0.25]]
    topdown = get_model("topdown", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4)
    assert topdown.frame_weights(weights * mask, mask).equal(weights * mask)  # every frame at its place
