"""Recurrent layers with batch-first state dicts, the cell chosen by name ("lstm" or "gru").

PyTorch's ``nn.LSTM``/``nn.GRU`` keep their hidden state as ``(layers, batch, hidden)``; the caption
models keep every state tensor batch-first so that decoding can reorder beams with
``index_select(0, …)`` without knowing the model. :class:`Recurrent` does the transposes and names the
state tensors (``h`` and, for LSTMs, ``c``, with an optional prefix when a model has several layers).

A single time step (an input of length 1: every step of an attention decoder, every step of greedy,
beam or sampled decoding) runs through the cell functions (``torch.lstm_cell``/``torch.gru_cell``: two
matrix products and the gate arithmetic) with the module's own weights, instead of ``nn.LSTM``/``nn.GRU``.
Why: on CPU those run a length-1 sequence through oneDNN's RNN primitive, whose set-up and backward cost
several times the arithmetic (docs/benchmarks.md, "SCST step, before and after"). The parameters and
state-dict keys stay those of ``nn.LSTM``/``nn.GRU`` (old checkpoints load), sequences and packed runs
still take the fused path, and the step gives the same outputs up to float rounding (tested). Between
stacked layers the step applies the module's inter-layer dropout in training, as ``nn.LSTM`` does.

Example:
    >>> rnn = Recurrent(cell="gru", input_size=4, hidden_size=8, layers=2, dropout=0.0)
    >>> state = rnn.zero_state(3, torch.device("cpu"))
    >>> out, state = rnn(torch.zeros(3, 5, 4), state)
    >>> out.shape, state["h"].shape
    (torch.Size([3, 5, 8]), torch.Size([3, 2, 8]))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from vidcap.registry import UnknownNameError


# One time step of one layer: (input (B, I), states (each (B, H)), w_ih, w_hh, b_ih, b_hh) → new states.
CellStep = Callable[..., tuple[Tensor, ...]]


def _lstm_step(x: Tensor, hs: tuple[Tensor, ...], *weights: Tensor) -> tuple[Tensor, ...]:
    return tuple(torch.lstm_cell(x, hs, *weights))


def _gru_step(x: Tensor, hs: tuple[Tensor, ...], *weights: Tensor) -> tuple[Tensor, ...]:
    return (torch.gru_cell(x, hs[0], *weights),)


@dataclass(frozen=True)
class CellSpec:
    """A recurrent cell family: its multi-layer module, the names of its state tensors (the first is the
    layer's output) and its single-step function over the module's weights."""

    module: type[nn.RNNBase]
    states: tuple[str, ...]
    step: CellStep


CELLS: dict[str, CellSpec] = {
    "lstm": CellSpec(nn.LSTM, ("h", "c"), _lstm_step),
    "gru": CellSpec(nn.GRU, ("h",), _gru_step),
}


def cell_spec(cell: str) -> CellSpec:
    """The :class:`CellSpec` for ``cell``; unknown names raise ``UsageError`` listing the valid ones."""
    try:
        return CELLS[cell]
    except (KeyError, TypeError):
        raise UnknownNameError("cell", cell, sorted(CELLS)) from None


class Recurrent(nn.Module):
    """A stacked LSTM/GRU whose state is a dict of batch-first ``(B, layers, hidden)`` tensors."""

    def __init__(self, *, cell: str, input_size: int, hidden_size: int, layers: int, dropout: float,
                 prefix: str = ""):
        super().__init__()
        spec = cell_spec(cell)
        # nn.RNNBase warns (and does nothing) when given inter-layer dropout with one layer.
        self.rnn = spec.module(input_size, hidden_size, layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.names = tuple(prefix + s for s in spec.states)
        self.layers, self.hidden_size = layers, hidden_size
        self._cell_step = spec.step
        self._weight_names = [[f"{kind}_l{k}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                              for k in range(layers)]

    def zero_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        return {n: torch.zeros(batch, self.layers, self.hidden_size, device=device, dtype=dtype) for n in self.names}

    def _to_torch(self, state: dict[str, Tensor]):
        hs = tuple(state[n].transpose(0, 1).contiguous() for n in self.names)
        return hs if len(hs) > 1 else hs[0]

    def _from_torch(self, hs) -> dict[str, Tensor]:
        hs = hs if isinstance(hs, tuple) else (hs,)
        return {n: h.transpose(0, 1) for n, h in zip(self.names, hs)}

    def forward(self, x: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Run over ``x`` (B, L, input_size) from ``state``; returns outputs (B, L, hidden) and the new state.

        A length-1 ``x`` takes :meth:`step` (see the module docstring), longer ones the fused module.
        """
        if x.size(1) == 1:
            out, state = self.step(x[:, 0], state)
            return out.unsqueeze(1), state
        out, hs = self.rnn(x, self._to_torch(state))
        return out, self._from_torch(hs)

    def step(self, x: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """One time step: ``x`` (B, input_size) → the top layer's output (B, hidden) and the new state.

        Example:
            >>> rnn = Recurrent(cell="lstm", input_size=4, hidden_size=8, layers=1, dropout=0.0)
            >>> out, state = rnn.step(torch.zeros(3, 4), rnn.zero_state(3, torch.device("cpu")))
            >>> out.shape, state["c"].shape
            (torch.Size([3, 8]), torch.Size([3, 1, 8]))
        """
        per_layer = []
        for k, names in enumerate(self._weight_names):
            if k:  # nn.LSTM/nn.GRU's dropout on every layer's output but the last
                x = F.dropout(x, self.rnn.dropout, self.training)
            hs = self._cell_step(x, tuple(state[n][:, k] for n in self.names),
                                 *(getattr(self.rnn, w) for w in names))
            per_layer.append(hs)
            x = hs[0]
        if self.layers == 1:
            return x, {n: h.unsqueeze(1) for n, h in zip(self.names, per_layer[0])}
        return x, {n: torch.stack([hs[i] for hs in per_layer], 1) for i, n in enumerate(self.names)}

    def run_packed(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Run from a zero state over left-aligned sequences of the given ``lengths`` (each ≥ 1).

        Returns outputs (B, T, hidden), zero past each length, and the state after each sequence's
        last valid step, so right-padding changes neither.
        """
        lengths = lengths.cpu()
        if bool((lengths == x.size(1)).all()):
            # Nothing is padded (every video has all its frames, the usual case): packing would only sort,
            # gather and scatter the batch around the same computation (measured for S2VT: docs/benchmarks.md).
            out, hs = self.rnn(x)
            return out, self._from_torch(hs)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, hs = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, self._from_torch(hs)
