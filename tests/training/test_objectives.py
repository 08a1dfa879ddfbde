"""vidcap/training/objectives.py: scheduled sampling feeds the model only words a caption can hold."""
from __future__ import annotations

import torch

from vidcap.data import BOS, PAD, UNK, Batch
from vidcap.models import get_model
from vidcap.training.objectives import CrossEntropy


def test_scheduled_sampling_never_feeds_pad_bos_or_unk_back():
    torch.manual_seed(0)
    model = get_model("sa-lstm", vocab_size=10, input_dims={"frame": 4}, embed_size=8, hidden_size=8,
                      attention_size=8, dropout=0.0)
    with torch.no_grad():  # a model that all but always predicts PAD, BOS or <unk>
        model.out.bias[[PAD, BOS, UNK]] = 30.0
    fed: list[torch.Tensor] = []
    model.embed.register_forward_pre_hook(lambda module, args: fed.append(args[0].detach().clone()))
    captions = torch.tensor([[BOS, 4, 5, 6, 7, 8, 2]] * 16)  # no padding: every position is a real step
    batch = Batch(ids=[f"v{i}" for i in range(16)], feats={"frame": torch.randn(16, 3, 4)},
                  masks={"frame": torch.ones(16, 3, dtype=torch.bool)}, captions=captions)
    objective = CrossEntropy(model).train()
    objective.sampling_prob = 1.0  # always the model's own previous word
    loss, count = objective(batch)
    assert count.item() == 16 * 6 and torch.isfinite(loss)
    inputs = torch.cat([f.reshape(16, -1) for f in fed], 1)  # (16, 6): one token per decoder step
    assert inputs.shape == (16, 6) and (inputs[:, 0] == BOS).all()
    own = inputs[:, 1:]
    assert not torch.isin(own, torch.tensor([PAD, BOS, UNK])).any()
    assert not (own == captions[:, 1:-1]).all()  # they are the model's words, not the references'
