"""vidcap.models.s2vt: both layers read the valid frames in order, then continue into the words."""
from __future__ import annotations

import torch

from modelkit import captions, make_batch, tiny


def test_encoder_state_is_the_two_layers_run_over_the_valid_frames():
    model = tiny("s2vt", {"frame": 6}, cell="gru", layers=2)
    feats, masks = make_batch({"frame": 6}, lengths=(5, 2))
    enc = model.encode(feats, masks)
    for i, n in enumerate((5, 2)):
        x = model.frame_proj(feats["frame"][i:i + 1, :n])
        out1, s1 = model.frame_rnn(x, model.frame_rnn.zero_state(1, x.device))
        _, s2 = model.word_rnn(torch.cat([out1, torch.zeros(1, n, model.embed_size)], -1),
                               model.word_rnn.zero_state(1, x.device))
        torch.testing.assert_close(enc["frame_h"][i], s1["frame_h"][0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(enc["word_h"][i], s2["word_h"][0], rtol=1e-5, atol=1e-6)


def test_frame_order_matters():
    model = tiny("s2vt", {"frame": 6})
    feats, masks = make_batch({"frame": 6}, lengths=(5,))
    caps = captions([[4, 5]])
    reversed_feats = {"frame": feats["frame"].flip(1)}
    assert not torch.allclose(model(reversed_feats, masks, caps), model(feats, masks, caps))
