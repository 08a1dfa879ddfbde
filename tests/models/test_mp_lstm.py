"""vidcap.models.mp_lstm: the video is a mean over frames and detections, so their order is irrelevant."""
from __future__ import annotations

import torch

from modelkit import MULTI_DIMS, captions, make_batch, tiny


def test_frame_order_does_not_matter_but_content_does():
    model = tiny("mp-lstm", MULTI_DIMS)
    feats, masks = make_batch(MULTI_DIMS, lengths=(5, 5))
    caps = captions([[4, 5], [6, 7, 8]])
    perm = torch.tensor([3, 0, 4, 2, 1])
    shuffled = {n: x[:, perm] for n, x in feats.items()}
    shuffled_masks = {n: m[:, perm] for n, m in masks.items()}
    base = model(feats, masks, caps)
    torch.testing.assert_close(model(shuffled, shuffled_masks, caps), base, rtol=1e-5, atol=1e-6)
    changed = {**feats, "objects": feats["objects"] + 1.0}
    assert not torch.allclose(model(changed, masks, caps), base)


def test_encoding_is_the_projected_mean():
    model = tiny("mp-lstm", {"frame": 6})
    feats, masks = make_batch({"frame": 6}, lengths=(2, 4))
    enc = model.encode(feats, masks)
    means = torch.stack([feats["frame"][0, :2].mean(0), feats["frame"][1, :4].mean(0)])
    torch.testing.assert_close(enc["video"], model.video_proj(means))


def test_relu_embeddings_are_x_modalers_and_linear_stays_the_default():
    import pytest

    from vidcap.errors import UsageError

    assert tiny("mp-lstm", {"frame": 6}).config["embed_activation"] == "none"
    model = tiny("mp-lstm", {"frame": 6}, embed_activation="relu").eval()
    feats, masks = make_batch({"frame": 6}, lengths=(2, 4))
    enc = model.encode(feats, masks)
    means = torch.stack([feats["frame"][0, :2].mean(0), feats["frame"][1, :4].mean(0)])
    projected = model.video_proj(means)
    assert (projected < 0).any()  # so the ReLU below has something to cut
    torch.testing.assert_close(enc["video"], projected.clamp(min=0))
    words = model.embed(torch.tensor([4, 5]))
    assert (words < 0).any() and (model.act(words) >= 0).all()
    with pytest.raises(UsageError, match="model.embed_activation='tanh': choose one of none, relu"):
        tiny("mp-lstm", {"frame": 6}, embed_activation="tanh")
