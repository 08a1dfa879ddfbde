"""vidcap.models.rnn: cell choice by name, batch-first states, packed runs ignore padding."""
from __future__ import annotations

import pytest
import torch

from vidcap.errors import UsageError
from vidcap.models.rnn import CELLS, Recurrent, cell_spec


def test_cells_by_name():
    assert sorted(CELLS) == ["gru", "lstm"]
    assert cell_spec("lstm").module is torch.nn.LSTM and cell_spec("gru").states == ("h",)
    with pytest.raises(UsageError, match="unknown cell 'LSTM'; choose one of: gru, lstm"):
        cell_spec("LSTM")


@pytest.mark.parametrize("cell, names", [("lstm", ("dec_h", "dec_c")), ("gru", ("dec_h",))])
def test_state_is_batch_first_and_matches_torch(cell, names):
    torch.manual_seed(0)
    rnn = Recurrent(cell=cell, input_size=3, hidden_size=5, layers=2, dropout=0.0, prefix="dec_")
    x = torch.randn(4, 6, 3)
    state = {n: torch.randn(4, 2, 5) for n in names}
    out, new = rnn(x, state)
    assert out.shape == (4, 6, 5) and set(new) == set(names) and all(v.shape == (4, 2, 5) for v in new.values())
    # The same computation with torch's (layers, batch, hidden) layout.
    hs = tuple(state[n].transpose(0, 1).contiguous() for n in names)
    ref_out, ref_hs = rnn.rnn(x, hs if cell == "lstm" else hs[0])
    ref_hs = ref_hs if cell == "lstm" else (ref_hs,)
    torch.testing.assert_close(out, ref_out)
    for n, h in zip(names, ref_hs):
        torch.testing.assert_close(new[n], h.transpose(0, 1))
    # Running step by step from the state gives the same as one call.
    for t in range(6):
        step_out, state = rnn(x[:, t:t + 1], state)
        torch.testing.assert_close(step_out[:, 0], out[:, t], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_packed_run_stops_at_each_length(cell):
    torch.manual_seed(0)
    rnn = Recurrent(cell=cell, input_size=3, hidden_size=5, layers=1, dropout=0.0)
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    out, state = rnn.run_packed(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone, alone_state = rnn(x[i:i + 1, :n], rnn.zero_state(1, x.device))
        torch.testing.assert_close(out[i, :n], alone[0], rtol=1e-5, atol=1e-6)
        assert out[i, n:].abs().sum() == 0
        torch.testing.assert_close(state["h"][i], alone_state["h"][0], rtol=1e-5, atol=1e-6)
