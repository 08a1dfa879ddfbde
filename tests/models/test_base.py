"""vidcap.models.base: the stream contract, masked pooling, left alignment."""
from __future__ import annotations

import pytest
import torch

from modelkit import MULTI_DIMS, make_batch, tiny
from vidcap.errors import InputError, UsageError
from vidcap.models import get_model
from vidcap.models.base import Streams, VocabLinear, frame_sequence, left_align, masked_mean


def test_streams_parse_frame_and_object_streams():
    streams = Streams.parse({"resnet152/frame": 2048, "objects": [10, 256]})
    assert streams.frames == {"resnet152/frame": 2048} and streams.objects == {"objects": (10, 256)}
    assert streams.as_config() == {"resnet152/frame": 2048, "objects": [10, 256]}


def test_masked_mean_by_hand():
    x = torch.tensor([[[1.0], [3.0], [100.0]], [[5.0], [7.0], [9.0]], [[2.0], [2.0], [2.0]]])
    mask = torch.tensor([[True, True, False], [True, True, True], [False, False, False]])
    assert masked_mean(x, mask).flatten().tolist() == [2.0, 7.0, 0.0]
    objects = torch.arange(12.0).view(1, 2, 3, 2)  # (B, T, K, D)
    omask = torch.tensor([[[True, False, False], [False, False, True]]])
    assert masked_mean(objects, omask).tolist() == [[(0 + 10) / 2, (1 + 11) / 2]]


def test_left_align_keeps_the_order_of_valid_steps():
    x = torch.arange(5.0).view(1, 5, 1).repeat(2, 1, 1)
    mask = torch.tensor([[False, True, False, True, True], [True, True, False, False, False]])
    aligned, amask, lengths = left_align(x, mask)
    assert lengths.tolist() == [3, 2]
    assert aligned[0, :3, 0].tolist() == [1, 3, 4] and aligned[1, :2, 0].tolist() == [0, 1]
    assert amask.tolist() == [[True] * 3 + [False] * 2, [True] * 2 + [False] * 3]
    with pytest.raises(InputError, match=r"batch positions \[1\] have no valid frame"):
        left_align(x, torch.tensor([[True] * 5, [False] * 5]))


def test_frame_sequence_concatenates_and_pools_objects_per_frame():
    feats = {"a": torch.ones(1, 2, 2), "b": torch.zeros(1, 2, 1), "o": torch.tensor([[[[2.0], [4.0]], [[6.0], [8.0]]]])}
    masks = {"a": torch.tensor([[True, True]]), "b": torch.tensor([[True, False]]),
             "o": torch.tensor([[[True, True], [False, False]]])}
    x, mask = frame_sequence(feats, masks, ["a", "b"], ["o"])
    assert x.tolist() == [[[1, 1, 0, 3], [1, 1, 0, 0]]]  # frame 2 has no detection: zeros
    assert mask.tolist() == [[True, False]]  # valid where every frame-like stream is
    with pytest.raises(InputError, match="same number of frames"):
        frame_sequence({**feats, "b": torch.zeros(1, 3, 1)}, masks, ["a", "b"])


def test_model_specific_input_rules():
    with pytest.raises(UsageError, match="sa-lstm needs at least one frame-like stream"):
        get_model("sa-lstm", vocab_size=10, input_dims={"objects": (3, 4)})
    objects_only = tiny("s2vt", {"objects": (3, 5)})  # per-frame object means drive S2VT
    feats, masks = make_batch({"objects": (3, 5)})
    assert objects_only.encode(feats, masks)["word_h"].shape[0] == 3
    model = tiny("sa-lstm", MULTI_DIMS)
    feats, masks = make_batch(MULTI_DIMS)
    masks = {n: m.clone() for n, m in masks.items()}
    masks["objects"][:] = False  # YOLO found nothing at all: allowed, no NaNs
    assert torch.isfinite(model(feats, masks, torch.tensor([[1, 4, 2]] * 3))).all()
    masks["resnet18/frame"][1] = False
    with pytest.raises(InputError, match="no valid frame"):
        model.encode(feats, masks)


def test_vocab_linear_decodes_in_blocks_with_the_plain_layers_values():
    torch.manual_seed(0)
    layer = VocabLinear(64, 5000)  # 5 blocks of 1,024 rows, the last one short
    plain = torch.nn.Linear(64, 5000)
    plain.load_state_dict(layer.state_dict())  # same parameters, same state-dict keys
    x = torch.randn(7, 3, 64)
    with torch.no_grad():
        blocked = layer(x)
        assert torch.allclose(blocked, plain(x), rtol=0, atol=1e-5) and blocked.shape == (7, 3, 5000)
    # With autograd on (training) it is the plain product, and gradients reach the weight.
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (5000, 64)
