"""vidcap.models.s2vt: both layers read the valid frames in order, then continue into the words."""
from __future__ import annotations

import torch

from modelkit import captions, make_batch, tiny
from vidcap.data.vocab import BOS


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


def test_the_paper_config_builds_two_lstms_and_one_step_matches_a_hand_computation():
    """configs/s2vt_msrvtt.yaml: one LSTM reads the frames, one writes the words (2 in all). The hand
    computation runs the LSTM equations on the model's own weights: encode two frames, then one word."""
    from paperkit import lstm_cell, paper_model

    model = paper_model("s2vt_msrvtt")
    lstms = [m for m in model.modules() if isinstance(m, torch.nn.LSTM)]
    assert [m.num_layers for m in lstms] == [1, 1] and model.hidden_size == 1000 and model.embed_size == 500
    feats, masks = make_batch({"frame": 6}, lengths=(2,), frames=3, dtype=torch.float64)
    frame, word = model.frame_rnn.rnn, model.word_rnn.rnn
    zeros = torch.zeros(1, 1000, dtype=torch.float64)
    h1, c1, h2, c2 = zeros, zeros, zeros, zeros
    for t in range(2):  # the third frame is padding: never read
        x = model.frame_proj(feats["frame"][:, t])
        h1, c1 = lstm_cell(x, h1, c1, frame)
        h2, c2 = lstm_cell(torch.cat([h1, torch.zeros(1, 500, dtype=torch.float64)], 1), h2, c2, word)
    h1, c1 = lstm_cell(torch.zeros(1, 500, dtype=torch.float64), h1, c1, frame)  # no frame while writing
    h2, c2 = lstm_cell(torch.cat([h1, model.embed(torch.tensor([BOS]))], 1), h2, c2, word)
    expected = torch.log_softmax(model.out(h2), -1)
    enc = model.encode(feats, masks)
    logp, state = model.step(torch.tensor([BOS]), model.init_state(enc), enc)
    torch.testing.assert_close(logp, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(state["word_c"][:, 0], c2, rtol=1e-10, atol=1e-10)
