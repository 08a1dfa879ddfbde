"""Recurrent layers with batch-first state dicts, the cell chosen by name ("lstm" or "gru").

PyTorch's ``nn.LSTM``/``nn.GRU`` keep their hidden state as ``(layers, batch, hidden)``; the caption
models keep every state tensor batch-first so that decoding can reorder beams with
``index_select(0, …)`` without knowing the model. :class:`Recurrent` does the transposes and names the
state tensors (``h`` and, for LSTMs, ``c``, with an optional prefix when a model has several layers).

Example:
    >>> rnn = Recurrent(cell="gru", input_size=4, hidden_size=8, layers=2, dropout=0.0)
    >>> state = rnn.zero_state(3, torch.device("cpu"))
    >>> out, state = rnn(torch.zeros(3, 5, 4), state)
    >>> out.shape, state["h"].shape
    (torch.Size([3, 5, 8]), torch.Size([3, 2, 8]))
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from vidcap.registry import UnknownNameError


@dataclass(frozen=True)
class CellSpec:
    """A recurrent cell family: its multi-layer module and the names of its state tensors."""

    module: type[nn.RNNBase]
    states: tuple[str, ...]


CELLS: dict[str, CellSpec] = {
    "lstm": CellSpec(nn.LSTM, ("h", "c")),
    "gru": CellSpec(nn.GRU, ("h",)),
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

    def zero_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        return {n: torch.zeros(batch, self.layers, self.hidden_size, device=device, dtype=dtype) for n in self.names}

    def _to_torch(self, state: dict[str, Tensor]):
        hs = tuple(state[n].transpose(0, 1).contiguous() for n in self.names)
        return hs if len(hs) > 1 else hs[0]

    def _from_torch(self, hs) -> dict[str, Tensor]:
        hs = hs if isinstance(hs, tuple) else (hs,)
        return {n: h.transpose(0, 1) for n, h in zip(self.names, hs)}

    def forward(self, x: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Run over ``x`` (B, L, input_size) from ``state``; returns outputs (B, L, hidden) and the new state."""
        out, hs = self.rnn(x, self._to_torch(state))
        return out, self._from_torch(hs)

    def run_packed(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Run from a zero state over left-aligned sequences of the given ``lengths`` (each ≥ 1).

        Returns outputs (B, T, hidden), zero past each length, and the state after each sequence's
        last valid step, so right-padding changes neither.
        """
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, hs = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, self._from_torch(hs)
