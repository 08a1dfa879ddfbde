"""vidcap.models.sa_lstm: attention over the encoded frames and over every valid detection."""
from __future__ import annotations

import torch

from modelkit import MULTI_DIMS, captions, make_batch, tiny


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
