"""Helpers for the paper-config model tests: the configs' models in float64, and the LSTM equations."""
from __future__ import annotations

from pathlib import Path

import torch

from vidcap.config.loading import load_config
from vidcap.training.rundata import build_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def paper_model(config: str, vocab: int = 12, dims: dict | None = None):
    """The model ``configs/<config>.yaml`` builds (its model keys as written), eval mode, float64."""
    cfg = load_config(CONFIGS / f"{config}.yaml")
    torch.manual_seed(0)
    return build_model(cfg, vocab_size=vocab, input_dims=dims or {"frame": 6}).double().eval()


def lstm_cell(x, h, c, lstm: torch.nn.LSTM):
    """One step of layer 0 of ``lstm`` written out: gates i, f, g, o (PyTorch's order) from its weights."""
    gates = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c
