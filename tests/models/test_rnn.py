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


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_batch_without_padding_gives_what_packing_gives(cell):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    rnn = Recurrent(cell=cell, input_size=3, hidden_size=5, layers=2, dropout=0.0)
    x = torch.randn(4, 6, 3, dtype=torch.float64, requires_grad=True)
    rnn = rnn.double()
    out, state = rnn.run_packed(x, torch.full((4,), 6))  # every sequence full length: not packed
    packed = pack_padded_sequence(x, torch.full((4,), 6), batch_first=True, enforce_sorted=False)
    ref_out, ref_hs = rnn.rnn(packed)
    ref_out = pad_packed_sequence(ref_out, batch_first=True, total_length=6)[0]
    ref_h = (ref_hs if cell == "gru" else ref_hs[0]).transpose(0, 1)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state["h"], ref_h, rtol=1e-12, atol=1e-12)
    grad = torch.autograd.grad(out.sum() + state["h"].sum(), x)[0]
    ref_grad = torch.autograd.grad(ref_out.sum() + ref_h.sum(), x)[0]
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-12)


def _fused(rnn: Recurrent, x, state):
    """What nn.LSTM/nn.GRU itself gives for the sequence ``x`` (B, L, I) from ``state``."""
    hs = tuple(state[n].transpose(0, 1).contiguous() for n in rnn.names)
    out, new = rnn.rnn(x, hs if len(hs) > 1 else hs[0])
    new = new if isinstance(new, tuple) else (new,)
    return out, {n: h.transpose(0, 1) for n, h in zip(rnn.names, new)}


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_single_step_equals_the_fused_module_values_and_gradients(cell, layers, dtype, tol):
    torch.manual_seed(0)
    rnn = Recurrent(cell=cell, input_size=7, hidden_size=9, layers=layers, dropout=0.3).to(dtype).eval()
    x = torch.randn(5, 7, dtype=dtype, requires_grad=True)
    state = {n: torch.randn(5, layers, 9, dtype=dtype, requires_grad=True) for n in rnn.names}

    out, new = rnn.step(x, state)
    ref_out, ref_new = _fused(rnn, x.unsqueeze(1), state)
    torch.testing.assert_close(out, ref_out[:, 0], rtol=tol, atol=tol)
    for n in rnn.names:
        torch.testing.assert_close(new[n], ref_new[n], rtol=tol, atol=tol)

    # The same gradients for the weights, the input and the incoming state.
    leaves = [x, *state.values(), *rnn.parameters()]
    weights = torch.randn_like(out)
    grads = torch.autograd.grad((out * weights).sum() + sum(v.sum() for v in new.values()), leaves)
    ref_grads = torch.autograd.grad((ref_out[:, 0] * weights).sum() + sum(v.sum() for v in ref_new.values()),
                                    leaves)
    for g, ref in zip(grads, ref_grads):
        torch.testing.assert_close(g, ref, rtol=tol, atol=tol)
    # forward() takes the step for length-1 inputs.
    seq_out, seq_new = rnn(x.unsqueeze(1), state)
    assert torch.equal(seq_out[:, 0], out) and all(torch.equal(seq_new[n], new[n]) for n in rnn.names)


def test_step_keeps_the_module_parameters_and_state_dict_keys():
    rnn = Recurrent(cell="lstm", input_size=3, hidden_size=4, layers=2, dropout=0.0)
    assert list(rnn.state_dict()) == [f"rnn.{w}_l{k}" for k in range(2)
                                      for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    # A state dict saved from a bare nn.LSTM (what a checkpoint of any earlier version holds) loads.
    rnn.rnn.load_state_dict(torch.nn.LSTM(3, 4, 2, batch_first=True).state_dict())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_step_drops_out_between_layers_in_training_only(cell):
    torch.manual_seed(0)
    x = torch.randn(64, 6)
    one = Recurrent(cell=cell, input_size=6, hidden_size=8, layers=1, dropout=0.0)
    state = one.zero_state(64, x.device)
    assert torch.equal(one.train().step(x, state)[0], one.eval().step(x, state)[0])  # one layer: no dropout
    two = Recurrent(cell=cell, input_size=6, hidden_size=8, layers=2, dropout=0.5)
    state = two.zero_state(64, x.device)
    evaluated, trained = two.eval().step(x, state), two.train().step(x, state)
    assert torch.equal(trained[1]["h"][:, 0], evaluated[1]["h"][:, 0])  # the first layer sees x itself
    assert not torch.allclose(trained[0], evaluated[0])  # the second sees the first's output, dropped out
