"""vidcap.models.sa_lstm: attention over the encoded frames and over every valid detection."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modelkit import MULTI_DIMS, captions, make_batch, tiny
from vidcap.data.vocab import BOS
from vidcap.models import get_model


def test_objects_are_attended_only_where_valid():
    model = tiny("sa-lstm", MULTI_DIMS)
    feats, masks = make_batch(MULTI_DIMS, lengths=(4, 3))
    caps = captions([[4, 5, 6], [7]])
    base = model(feats, masks, caps)
    enc = model.encode(feats, masks)
    assert enc["objects0"].shape[:2] == (2, 4 * 3)  # T·K detections per video
    # Changing a valid detection changes the captions' scores; changing a masked one does not.
    valid = masks["objects"].clone()
    changed = feats["objects"].clone()
    changed[~valid] += 50.0
    torch.testing.assert_close(model({**feats, "objects": changed}, masks, caps), base)
    changed[valid] += 1.0
    assert not torch.allclose(model({**feats, "objects": changed}, masks, caps), base)


def test_decoder_state_starts_from_the_mean_encoding():
    model = tiny("sa-lstm", {"frame": 6}, cell="lstm", layers=2)
    feats, masks = make_batch({"frame": 6}, lengths=(4, 2))
    enc = model.encode(feats, masks)
    assert (enc["frames"][1, 2:] == 0).all() and enc["frames_mask"].sum(1).tolist() == [4, 2]
    mean = enc["frames"][1, :2].mean(0)
    state = model.init_state(enc)
    assert set(state) == {"h", "c"} and state["h"].shape == (2, 2, 16)
    torch.testing.assert_close(state["h"][1].flatten(), torch.tanh(model.init_proj["h"](mean)))


def test_the_paper_config_builds_one_lstm_and_one_step_matches_a_hand_computation():
    """configs/sa_lstm_msrvtt.yaml: one decoder LSTM attending over the projected frames, zero initial
    state, no encoder. The hand computation: additive attention with h0 = 0, then the LSTM equations."""
    from paperkit import lstm_cell, paper_model

    model = paper_model("sa_lstm_msrvtt")
    lstms = [m for m in model.modules() if isinstance(m, torch.nn.LSTM)]
    assert [m.num_layers for m in lstms] == [1] and not hasattr(model, "encoder")
    assert not hasattr(model, "init_proj") and (model.hidden_size, model.embed_size) == (512, 468)
    feats, masks = make_batch({"frame": 6}, lengths=(3,), frames=5, dtype=torch.float64)
    x = model.frame_proj(feats["frame"][0, :3])                       # the 3 valid frames, projected
    att = model.frame_att
    h, c = torch.zeros(1, 512, dtype=torch.float64), torch.zeros(1, 512, dtype=torch.float64)
    scores = torch.tanh(x @ att.key_proj.weight.T + att.key_proj.bias + h @ att.query_proj.weight.T) @ att.score.weight.T
    alpha = torch.softmax(scores[:, 0], 0)
    context = (alpha[:, None] * x).sum(0, keepdim=True)
    h, c = lstm_cell(torch.cat([model.embed(torch.tensor([BOS])), context], 1), h, c, model.decoder.rnn)
    expected = torch.log_softmax(model.out(h), -1)
    enc = model.encode(feats, masks)
    state = model.init_state(enc)
    assert all(float(v.abs().sum()) == 0 for v in state.values())
    logp, state = model.step(torch.tensor([BOS]), state, enc)
    torch.testing.assert_close(logp, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(state["c"][:, 0], c, rtol=1e-10, atol=1e-10)


# A model saved by vidcap before `encoder`/`init_state` existed (written by the code of commit 8fc8b48's
# parent, frame stream + one object stream): its config lacks the two keys; with it, inputs and the logits
# that code computed. README in tests/models/fixtures says how it was made.
OLD = Path(__file__).parent / "fixtures" / "sa_lstm_8fc8b48-parent.pt"


def test_an_old_checkpoints_config_rebuilds_the_model_it_trained():
    old = torch.load(OLD, weights_only=True)
    assert "encoder" not in old["config"] and "init_state" not in old["config"]
    rebuilt = get_model(**old["config"]).eval()
    assert (rebuilt.encoder_kind, rebuilt.init_kind) == ("lstm", "mean")
    rebuilt.load_state_dict(old["state"], strict=True)
    with torch.no_grad():
        logits = rebuilt(old["feats"], old["masks"], old["captions"])
    torch.testing.assert_close(logits, old["logits"], rtol=1e-6, atol=1e-6)
    paper = get_model(**{**old["config"], "encoder": "none", "init_state": "zero"})
    with pytest.raises(RuntimeError, match="Unexpected key"):  # the paper's model is another structure
        paper.load_state_dict(old["state"], strict=True)
