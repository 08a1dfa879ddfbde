"""The train benchmark's yardstick (tools/benchmarks/_minimal.py): each minimal model, given vidcap's weights,
computes vidcap's model, so the benchmark compares the cost of the same arithmetic."""
from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from modelkit import ROOT
from vidcap.models import get_model, list_models


def _minimal():
    spec = importlib.util.spec_from_file_location("vidcap_bench_minimal", ROOT / "tools" / "benchmarks" / "_minimal.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


MINIMAL = _minimal()


def test_every_registered_model_has_a_minimal_counterpart():
    assert sorted(MINIMAL.MINIMAL) == list_models()


@pytest.mark.parametrize("name", sorted(MINIMAL.MINIMAL))
def test_minimal_model_with_vidcaps_weights_gives_vidcaps_logits_and_gradients(name):
    torch.manual_seed(0)
    options = {"attention_size": 7} if name in ("sa-lstm", "topdown") else {}
    model = get_model(name, vocab_size=30, input_dims={"frame": 10}, embed_size=8, hidden_size=12, dropout=0.0,
                      **options)
    minimal = MINIMAL.MINIMAL[name](vocab=30, feat=10, embed=8, hidden=12, attention=7, dropout=0.0)
    MINIMAL.load_from(minimal, name, model)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in minimal.parameters())
    frames, captions = torch.randn(3, 5, 10), torch.randint(4, 30, (3, 6))
    captions[:, 0] = 1
    ours = model({"frame": frames}, {"frame": torch.ones(3, 5, dtype=torch.bool)}, captions)
    theirs = minimal(frames, captions)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    ours.square().sum().backward()
    theirs.square().sum().backward()
    names = {**{k: k for k in ("embed.weight", "out.weight", "out.bias")}, **MINIMAL.NAMES[name]}
    params = dict(model.named_parameters())
    for mine, p in minimal.named_parameters():
        torch.testing.assert_close(p.grad, params[names[mine]].grad, rtol=1e-4, atol=1e-6)


def test_load_from_refuses_a_model_that_does_not_map():
    model = get_model("mp-lstm", vocab_size=30, input_dims={"frame": 10}, embed_size=8, hidden_size=12, layers=2)
    minimal = MINIMAL.MINIMAL["mp-lstm"](vocab=30, feat=10, embed=8, hidden=12, attention=0, dropout=0.0)
    with pytest.raises(ValueError, match="vidcap only"):
        MINIMAL.load_from(minimal, "mp-lstm", model)
